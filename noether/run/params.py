"""Reading a parameter vector from ``.npz``: an array ``theta`` (length D) or one array per block."""

from __future__ import annotations

import numpy as np

from ..errors import SpecError


def load_params(model, path: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: np.asarray(f[k]) for k in f.files}
    except (OSError, ValueError) as exc:
        raise SpecError("--params", f"cannot read {path!r} as .npz ({exc})") from None
    if "theta" in arrays:
        th = arrays["theta"]
        if th.ndim != 1 or th.shape[0] != model.D:
            raise SpecError("--params", f"theta must have shape ({model.D},) for this spec, got {th.shape}")
    else:
        th = np.empty(model.D)
        view = model.unflatten(th)
        missing = [b for b in view if b not in arrays]
        if missing:
            raise SpecError("--params", f"{path} must hold 'theta' ({model.D} values) or the blocks "
                            + ", ".join(f"{b}{view[b].shape}" for b in view) + f"; missing {', '.join(missing)}")
        for b, v in view.items():
            if arrays[b].shape != v.shape:
                raise SpecError("--params", f"block {b} must have shape {v.shape}, got {arrays[b].shape}")
            v[...] = arrays[b]
    th = np.asarray(th, dtype=float)
    if not np.isfinite(th).all():
        raise SpecError("--params", "parameters must be finite")
    return th.copy()
