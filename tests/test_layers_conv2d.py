"""conv2d, maxpool2d, avgpool2d, flatten and batchnorm over channels: reference backprop vs finite
differences, the symbolic per-sample forward vs the numpy one, the generated kernels vs the
reference, the derivation finding the channel rescalings from the definitions, spec round trip
and bad input."""

import os

import numpy as np
import pytest
import sympy as sp

import noether
from noether.errors import SpecError
from noether.model import (Activation, AvgPool2d, BatchNorm, Conv2d, Flatten, Linear, MaxPool2d, Model)
from helpers import assert_gradient_matches_fd, assert_kernel_matches_reference, layer_data

CACHE = os.environ.get("NOETHER_CACHE", "/tmp/nc_tests")

MODELS = {
    "conv_stride_pad": lambda: Model(2 * 4 * 4, [Conv2d(2, 3, in_channels=2, padding=1, stride=2),
                                                 Activation("relu"), Flatten(), Linear(2)]),
    "pools": lambda: Model(16, [Conv2d(2, 2, padding=1), MaxPool2d(2, in_channels=2),
                                AvgPool2d(2, in_channels=2, stride=1, padding=1), Linear(2)], loss="cross_entropy"),
    "bn_channels": lambda: Model(9, [Conv2d(2, 2), BatchNorm(affine=True, eps=0.0, channels=2),
                                     Activation("relu"), Linear(2)]),
    "rect": lambda: Model(2 * 3 * 4, [Conv2d(1, [2, 3], in_channels=2, height=3, stride=[1, 2]), Linear(1)]),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_reference_matches_finite_differences_and_symbolic(name):
    m = MODELS[name]()
    X, Y, th = layer_data(m, 3, n=6)
    assert_gradient_matches_fd(m, th, X, Y)
    if any(getattr(l, "batch_coupled", False) for l in m.layers):
        return
    # the sympy forward of one sample, evaluated exactly in floats, against the numpy batch pass
    sym = m.symbolic_output([sp.Float(v, 30) for v in X[0]], list(th))
    # same sums in another order: ~1e-16 relative per term, O(10) terms per output
    assert np.allclose(np.array([float(e) for e in sym]), m.forward(th, X)[0], rtol=1e-12, atol=1e-13)


def _kernels_only(m):
    """The generated forward/backward of ``m`` without a derivation (no charges to print): the
    kernels' loss and gradient do not depend on the algebra, and deriving would dominate the test."""
    from noether.derive.derivation import Derivation
    from noether.derive.explicit import ExplicitAlgebra
    return noether.build_kernels(Derivation(m, ExplicitAlgebra(m, [], [], generators=[]), [], []), CACHE)


@pytest.mark.slow   # two numba compiles of unrolled conv kernels: 6 minutes on the loaded 2-core machine
@pytest.mark.parametrize("name", ["pools", "bn_channels"])
def test_kernels_match_reference(name):
    m = MODELS[name]()
    X, Y, th = layer_data(m, 4, n=5)
    assert_kernel_matches_reference(_kernels_only(m), m, th, X, Y)


def test_channel_rescaling_derived():
    """ReLU after a conv: each output channel c rescales (W1[c], b1[c]) by e^s and the next
    layer's columns reading channel c by e^-s; the charge is derived, not declared."""
    m = Model(9, [Conv2d(2, 2), Activation("relu"), Flatten(), Linear(2)])
    d = noether.derive(m)
    S = lambda n: sp.Symbol(n, real=True)  # noqa: E731
    for c in range(2):
        want = sum(S(f"W1_{c}_0_{u}_{v}") ** 2 for u in range(2) for v in range(2)) + S(f"b1_{c}") ** 2 \
            - sum(S(f"W2_{o}_{4 * c + j}") ** 2 for o in range(2) for j in range(4))
        # in the span of the derived charges (the structured search may return another basis of it)
        exprs = [sp.expand(ch.expr) for ch in d.charges]
        coef = sp.symbols(f"a0:{len(exprs)}")
        residual = sp.Poly(sp.expand(want - sum(a * e for a, e in zip(coef, exprs))), *m.symbols)
        assert sp.solve(residual.coeffs(), coef, dict=True), f"channel {c}'s charge is not derived"
    assert d.n_charges == 2


def test_spec_round_trip_and_bad_input():
    spec = {"input": 32, "layer": [{"type": "conv2d", "channels": 3, "kernel": [3, 2], "in_channels": 2,
                                    "padding": 1, "height": 4},
                                   {"type": "batchnorm", "channels": 3, "affine": True},
                                   {"type": "maxpool2d", "kernel": 2, "in_channels": 3, "height": 4},
                                   {"type": "flatten"}, {"type": "linear", "out": 2}]}
    m = Model.from_dict(spec)
    assert Model.from_dict(m.to_dict()).digest == m.digest
    assert m.layers[0].out_dim() == 3 * 4 * 5
    with pytest.raises(SpecError, match=r"layer\[0\]\.kernel"):
        Model.from_dict({"input": 16, "layer": [{"type": "conv2d", "channels": 1, "kernel": 0}]})
    with pytest.raises(SpecError, match=r"layer\[0\]\.height"):
        Model.from_dict({"input": 12, "layer": [{"type": "conv2d", "channels": 1, "kernel": 2}]})
    with pytest.raises(SpecError, match=r"batchnorm\.channels"):
        Model(10, [Linear(9), BatchNorm(channels=2)])
