"""Seeded data and parameters, or data from a user's .npz (arrays X, Y)."""

from __future__ import annotations

import numpy as np

from ..errors import SpecError
from ..model.draws import initial_parameters, random_data  # noqa: F401 (re-exported)




def load_data(model, path: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "X" not in f or "Y" not in f:
                raise SpecError("--data", f"{path} must hold arrays X and Y")
            X, Y = np.asarray(f["X"], dtype=float), np.asarray(f["Y"], dtype=float)
    except (OSError, ValueError) as exc:
        raise SpecError("--data", f"cannot read {path!r} as .npz ({exc})") from None
    if X.ndim != 2 or X.shape[1] != model.input:
        raise SpecError("--data", f"X must have shape (N, {model.input}), got {X.shape}")
    if Y.ndim != 2 or Y.shape != (X.shape[0], model.output):
        raise SpecError("--data", f"Y must have shape ({X.shape[0]}, {model.output}), got {Y.shape}")
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise SpecError("--data", "X and Y must be finite")
    return np.ascontiguousarray(X), np.ascontiguousarray(Y)


