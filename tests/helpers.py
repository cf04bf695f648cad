"""Small shared helpers for the test-suite."""

import numpy as np
import scipy.linalg as sla

from noether.model import Activation, Linear, Model
from noether.run.chunks import loss_and_grad


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


def layer_data(m, seed, n=5):
    """Seeded (X, Y, θ) for a model: one-hot Y under cross-entropy, Gaussian otherwise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m.input))
    Y = np.eye(m.output)[rng.integers(0, m.output, n)] if m.loss_name == "cross_entropy" \
        else rng.standard_normal((n, m.output))
    return X, Y, m.init(rng)


def assert_gradient_matches_fd(m, th, X, Y):
    """The reference backprop against central differences of the loss."""
    _, g = m.loss_and_grad(th, X, Y)
    h = 1e-6
    fd = np.array([(m.loss_and_grad(th + h * e, X, Y)[0] - m.loss_and_grad(th - h * e, X, Y)[0]) / (2 * h)
                   for e in np.eye(m.D)])
    # central differences: truncation ~h²·|L'''| ~ 1e-12, rounding ~eps·|L|/h ~ 1e-10
    assert np.allclose(g, fd, atol=1e-7, rtol=1e-6)


def assert_kernel_matches_reference(k, m, th, X, Y):
    """The generated loss_grad against the numpy reference at one point."""
    L, g = m.loss_and_grad(th, X, Y)
    Lk, grad = loss_and_grad(k, th, X, Y)
    # same float64 operations up to reassociation: agreement ~1e-15 relative; 1e-11 is safe
    assert abs(Lk - L) <= 1e-11 * max(1.0, abs(L))
    assert np.allclose(grad, g, rtol=1e-10, atol=1e-12)
