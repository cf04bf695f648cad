"""Seeded draws of data and parameters for a model, each from its own ``numpy.random.Generator``."""

from __future__ import annotations

import numpy as np


def random_data(model, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X ~ N(0, 1) of shape (n, input), Y ~ N(0, 1) of shape (n, output), from ``seed``."""
    rng = np.random.default_rng([seed, 1])
    return rng.standard_normal((n, model.input)), rng.standard_normal((n, model.output))


def initial_parameters(model, seed: int) -> np.ndarray:
    return model.init(np.random.default_rng([seed, 2]))
