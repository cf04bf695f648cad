"""Hypothesis properties over random MLPs, parameters, data and generators."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import flow, mlp
from noether.derive import derive
from noether.kernels.codegen import build_kernels
from noether.run.gd import run_gd

ACTS = ["relu", "identity", "Max(z, z/5)", "z**3", "exp", "Abs(z)", "z + 1"]
SETTINGS = dict(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(**SETTINGS)
@given(act=st.sampled_from(ACTS), width=st.integers(1, 4), bias=st.tuples(st.booleans(), st.booleans()),
       seed=st.integers(0, 2**31), t=st.floats(-1.0, 1.0))
def test_finite_transformations_leave_loss_invariant(act, width, bias, seed, t):
    m = mlp(act, (2, width, 2), bias)
    d = derive(m)
    rng = np.random.default_rng(seed)
    theta, X, Y = m.init(rng), rng.standard_normal((8, 2)), rng.standard_normal((8, 2))
    L0 = m.loss_and_grad(theta, X, Y)[0]
    for gen in d.algebra.generators:
        L1 = m.loss_and_grad(flow(gen, theta, t, m.D), X, Y)[0]
        # loss O(1); expm of a small integer matrix and a forward pass: rounding ~1e-14
        assert abs(L1 - L0) <= 1e-10 * (1 + abs(L0)), gen.name


@settings(**SETTINGS)
@given(act=st.sampled_from(ACTS), width=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_charge_gradients_are_orthogonal_to_loss_gradient(act, width, seed):
    m = mlp(act, (3, width, 2))
    d = derive(m)
    rng = np.random.default_rng(seed)
    theta, X, Y = m.init(rng), rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    _, g = m.loss_and_grad(theta, X, Y)
    for c in d.charges:
        # ∇C = κ X(θ) for C = κ(½θᵀAθ + cᵀθ); orthogonality to ∇L is exact up to dot-product rounding
        gc = float(c.kappa) * c.generator.evaluate(theta)
        assert abs(gc @ g) <= 1e-12 * (np.abs(gc) @ np.abs(g) + 1e-300), c.name


_KERNELS = {}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(act=st.sampled_from(["relu", "identity"]), seed=st.integers(0, 2**31),
       lr=st.floats(1e-3, 0.1), steps=st.integers(1, 200))
def test_gd_law_holds_along_runs(act, seed, lr, steps):
    if act not in _KERNELS:
        m = mlp(act, (3, 4, 2))
        _KERNELS[act] = (m, build_kernels(derive(m)))
    m, k = _KERNELS[act]
    rng = np.random.default_rng(seed)
    theta, X, Y = m.init(rng), rng.standard_normal((12, 3)), rng.standard_normal((12, 2))
    run = run_gd(k, theta, X, Y, lr, steps)
    if not run.diverged:
        assert run.charge_resid.max() <= 1e-10   # identity up to float64 rounding (~1e-16)
