"""Seeded data and parameters, or data from a user's .npz (arrays X, Y)."""

from __future__ import annotations

import numpy as np

from ..errors import SpecError


def random_data(model, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X ~ N(0, 1) of shape (n, input), Y ~ N(0, 1) of shape (n, output), from ``seed``."""
    rng = np.random.default_rng([seed, 1])
    return rng.standard_normal((n, model.input)), rng.standard_normal((n, model.output))


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


def initial_parameters(model, seed: int) -> np.ndarray:
    return model.init(np.random.default_rng([seed, 2]))
