"""Generated kernels against the numpy reference and the sympy charges."""

import os

import numpy as np
import pytest

from helpers import mlp
from noether.derive import derive
from noether.kernels.cache import cache_dir, write_module
from noether.kernels.codegen import build_kernels, module_source
from noether.run.chunks import loss_and_grad
from noether.run.gd import run_gd


@pytest.fixture(scope="module", params=["relu", "identity", "exp"])
def built(request):
    m = mlp(request.param, (3, 4, 2))
    d = derive(m)
    return m, d, build_kernels(d)


def test_loss_grad_matches_reference(built):
    m, d, k = built
    rng = np.random.default_rng(0)
    theta, X, Y = m.init(rng), rng.standard_normal((9, 3)), rng.standard_normal((9, 2))
    L, g = loss_and_grad(k, theta, X, Y)
    L_ref, g_ref = m.loss_and_grad(theta, X, Y)
    # same float64 operations in a different order: agreement to a few ulps of O(1) numbers
    assert abs(L - L_ref) <= 1e-13 * (1 + abs(L_ref))
    np.testing.assert_allclose(g, g_ref, rtol=1e-12, atol=1e-14)


def test_charges_match_sympy(built):
    m, d, k = built
    if not d.charges:
        pytest.skip("no charges for this activation")
    rng = np.random.default_rng(1)
    theta = m.init(rng)
    out = np.empty(len(k.layout.names))
    k.module.charges(theta, out, 0)
    want = {c.name: float(c.expr.subs(dict(zip(m.symbols, theta)))) for c in d.charges}
    got = dict(zip(k.layout.names, out))
    assert set(want) == set(got)
    for name in want:
        # polynomial of O(1) terms evaluated in two summation orders
        assert abs(got[name] - want[name]) <= 1e-13 * (1 + abs(want[name]))


def test_gd_law_holds_in_kernel(built):
    m, d, k = built
    rng = np.random.default_rng(2)
    theta, X, Y = m.init(rng), rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    run = run_gd(k, theta, X, Y, 0.05, 300)
    assert not run.diverged
    # the law is an identity; rounding of C and of the update is ~1e-16 relative to the terms' scale
    if len(k.layout.names):
        assert run.charge_resid.max() <= 1e-10


def test_law_check_can_fail(built):
    """A deliberately wrong law (rhs dropped) must be caught: the residual is then O(η²|g|²)."""
    m, d, k = built
    if not len(k.layout.names):
        pytest.skip("no charges")
    rng = np.random.default_rng(3)
    theta, X, Y = m.init(rng), rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    g = np.empty(m.D)
    k.module.loss_grad(theta, X, Y, g, k.module.make_workspace(16), np.empty((1, m.D)), np.empty(1))
    c0, c1, a = (np.empty(len(k.layout.names)) for _ in range(3))
    k.module.charges(theta, c0, 0)
    k.module.charges(theta - 0.05 * g, c1, 0)
    k.module.charges_abs(theta, a, 0)
    assert np.max(np.abs(c1 - c0) / a) > 1e-8


def test_generated_module_is_readable_and_atomic(tmp_path):
    m = mlp("relu")
    src, layout = module_source(derive(m))
    p = write_module(src, tmp_path, "x")
    assert p.read_text() == src and "def act_1(z)" in src and "def loss_grad(" in src
    assert write_module(src, tmp_path, "x") == p          # content-hash name: reused
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp_")]


def test_cache_dir_from_env_and_option(tmp_path, monkeypatch):
    monkeypatch.setenv("NOETHER_CACHE", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "opt") == tmp_path / "opt"
