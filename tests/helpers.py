"""Small shared helpers for the test-suite."""

import numpy as np
import scipy.linalg as sla

from noether.model import Activation, Linear, Model


def mlp(act: str, widths=(3, 4, 2), bias=(True, True)) -> Model:
    layers = []
    for k, w in enumerate(widths[1:]):
        layers.append(Linear(w, bias=bias[k] if k < len(bias) else True))
        if k < len(widths) - 2:
            layers.append(Activation(act))
    return Model(widths[0], layers)


def flow(gen, theta, t, D):
    """exp(tX) applied to θ for the affine field X = Aθ + c (augmented-matrix exponential)."""
    M = np.zeros((D + 1, D + 1))
    M[:D, :D] = gen.matrix(D)
    for r, v in gen.c.items():
        M[r, D] = float(v)
    E = sla.expm(t * M)
    return E[:D, :D] @ theta + E[:D, D]
