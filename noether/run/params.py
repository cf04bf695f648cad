"""Parameter files: ``.npz`` with ``parameters`` (symbol names) and ``theta`` (float64, 1-D), or a
trajectory file (``theta`` 2-D; its last completed row is used)."""

from __future__ import annotations

import numpy as np

from ..errors import SpecError


def load_params(model, path: str, field: str = "--params") -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "theta" not in f or "parameters" not in f:
                raise SpecError(field, f"{path} must hold arrays 'parameters' and 'theta'")
            names = [str(n) for n in f["parameters"]]
            theta = np.asarray(f["theta"], dtype=float)
            done = int(f["completed_steps"]) if "completed_steps" in f else None
    except (OSError, ValueError) as exc:
        raise SpecError(field, f"cannot read {path!r} as .npz ({exc})") from None
    want = list(model.parameters)
    if names != want:
        for i, (a, b) in enumerate(zip(names, want)):
            if a != b:
                raise SpecError(field, f"parameter {i} is {a!r} in {path}, the spec has {b!r}")
        raise SpecError(field, f"{path} has {len(names)} parameters, the spec has {len(want)}")
    if theta.ndim == 2:                       # a trajectory: its last completed row
        row = theta.shape[0] - 1 if done is None else min(done, theta.shape[0] - 1)
        theta = theta[row]
    if theta.shape != (len(want),):
        raise SpecError(field, f"theta must have shape ({len(want)},) or (steps+1, {len(want)}), got {theta.shape}")
    if not np.isfinite(theta).all():
        raise SpecError(field, f"theta in {path} has non-finite values (first at index "
                        f"{int(np.flatnonzero(~np.isfinite(theta))[0])})")
    return np.ascontiguousarray(theta)


def save_params(model, path: str, theta, **extra) -> None:
    """Write ``parameters`` and ``theta`` (and ``extra`` arrays) atomically."""
    import os
    from ..verify import save_npz_atomic     # the repo's atomic .npz writer (a composer module)
    if not os.path.isdir(os.path.dirname(os.path.abspath(path)) or "."):
        raise SpecError("--out", f"folder of {path!r} does not exist")
    save_npz_atomic(path, parameters=np.array(model.parameters), theta=np.asarray(theta, dtype=float), **extra)
