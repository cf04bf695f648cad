"""Parameter files: ``.npz`` with ``parameters`` (the symbol names) and ``theta`` (float64, 1-D); a
trajectory file (``theta`` 2-D: its last completed row); or one array per parameter block
(``W1``, ``b1``, ...).  Names, when present, must be the spec's, and the first mismatch is named."""

from __future__ import annotations

import os

import numpy as np

from ..errors import SpecError
from ..io import save_npz_atomic


def load_params(model, path: str, field: str = "--params") -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: np.asarray(f[k]) for k in f.files}
    except (OSError, ValueError) as exc:
        raise SpecError(field, f"cannot read {path!r} as .npz ({exc})") from None
    want = list(model.parameters)
    if "theta" in arrays:
        if "parameters" in arrays:
            names = [str(n) for n in arrays["parameters"]]
            if names != want:
                for i, (a, b) in enumerate(zip(names, want)):
                    if a != b:
                        raise SpecError(field, f"parameter {i} is {a!r} in {path}, the spec has {b!r}")
                raise SpecError(field, f"{path} has {len(names)} parameters, the spec has {len(want)}")
        theta = np.asarray(arrays["theta"], dtype=float)
        if theta.ndim == 2:                       # a trajectory: its last completed row
            done = int(arrays["completed_steps"]) if "completed_steps" in arrays else None
            theta = theta[theta.shape[0] - 1 if done is None else min(done, theta.shape[0] - 1)]
        if theta.shape != (len(want),):
            raise SpecError(field, f"theta must have shape ({len(want)},) or (steps+1, {len(want)}) for this "
                            f"spec, got {theta.shape}")
    else:
        theta = np.empty(model.D)
        view = model.unflatten(theta)
        missing = [b for b in view if b not in arrays]
        if missing:
            raise SpecError(field, f"{path} must hold 'parameters' and 'theta' ({model.D} values) or the blocks "
                            + ", ".join(f"{b}{view[b].shape}" for b in view) + f"; missing {', '.join(missing)}")
        for b, v in view.items():
            if arrays[b].shape != v.shape:
                raise SpecError(field, f"block {b} must have shape {v.shape}, got {arrays[b].shape}")
            v[...] = arrays[b]
    if not np.isfinite(theta).all():
        raise SpecError(field, f"theta in {path} has non-finite values (first at index "
                        f"{int(np.flatnonzero(~np.isfinite(theta))[0])})")
    return np.ascontiguousarray(theta, dtype=float).copy()


def save_params(model, path: str, theta, **extra) -> None:
    """Write ``parameters`` and ``theta`` (and ``extra`` arrays) atomically."""
    if not os.path.isdir(os.path.dirname(os.path.abspath(path)) or "."):
        raise SpecError("--out", f"folder of {path!r} does not exist")
    save_npz_atomic(path, "--out", parameters=np.array(model.parameters), theta=np.asarray(theta, dtype=float),
                    **extra)
