"""Correctness of the performance paths (issue 7): the Gram-product charge families, the
row-major bias gradient, the BLAS thread switch, and the benchmark's agreement check.  No timing."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noether.derive.charges import i_, j_
from noether.derive.derivation import derive
from noether.kernels import primitives as P
from noether.kernels.gramform import GRAM_MIN_H, NotGram, gram_families, gram_function, gram_terms
from noether.kernels.printer import family_function
from noether.model import Model


def _linear_mlp(d, h, o, bias=True, act=None):
    layers = [{"type": "linear", "out": h, "bias": bias}]
    if act:
        layers.append({"type": "activation", "fn": act})
    layers.append({"type": "linear", "out": o})
    return Model.from_dict({"name": "t", "input": d, "loss": "mse", "layer": layers})


def _compile(src):
    """Run generated source as plain Python (njit → identity); gram_pair stays the compiled primitive."""
    ns = {"np": np, "math": __import__("math"), "gram_pair": P.gram_pair,
          "njit": lambda *a, **k: (lambda f: f)}
    exec(src, ns)
    return ns


def test_gram_form_is_the_balancedness_matrix():
    """Du, Hu & Lee 2018: W1 W1ᵀ + b bᵀ − W2ᵀ W2 for a two-layer linear net, read off the formula."""
    fams = {f.kind: f for f in gram_families(derive(_linear_mlp(3, 4, 2)))}
    want = {(1.0, "W1", 0), (1.0, "b1", 0), (-1.0, "W2", 1)}
    for kind in ("unit", "pair"):
        assert {(t.coef, t.block, t.axis) for t in fams[kind].terms} == want


def test_not_gram_is_refused():
    import sympy as sp
    W = sp.IndexedBase("W1")
    with pytest.raises(NotGram):
        gram_terms(W[i_, 0] * W[j_, 1], "pair")          # different columns: not a Gram entry
    assert gram_function("f", W[i_, 0] * W[j_, 0], "pair", GRAM_MIN_H - 1, {"W1": (0, (GRAM_MIN_H - 1, 1))}) is None


@settings(max_examples=3, deadline=None)
@given(d=st.integers(1, 5), extra=st.integers(0, 8), o=st.integers(1, 4), bias=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_gram_pair_matches_printed_loop(d, extra, o, bias, seed):
    """Every variant (value, quadratic part, abs scale) of every pair family, both ways.

    Both sum the same ≤ d+1+o products in different orders; float64 rounding is then at most
    (d+1+o)·2⁻⁵² of the abs-term scale, so 1e-13 of that scale is a safe bound."""
    h = GRAM_MIN_H + extra
    m = _linear_mlp(d, h, o, bias)
    deriv = derive(m)
    indexed = {b.name: (m.offsets[b.name], b.shape) for b in m.blocks}
    theta = np.random.default_rng(seed).standard_normal(m.D)
    (cf,) = [c for c in deriv.charge_families if c.kind == "pair"]
    expr = cf.indexed(cf.terms[0][1].itf)
    scale = None
    for ab in (True, False):
        src_g = gram_function("fg", expr, "pair", h, indexed, absolute=ab)
        assert src_g is not None and "gram_pair" in src_g
        src_l = family_function("fl", expr, ["i", "j"], [h], indexed, absolute=ab)
        n = h * (h - 1) // 2
        a, b = np.full(n + 3, np.nan), np.full(n + 3, np.nan)
        assert _compile(src_g)["fg"](theta, a, 2) == n + 2 == _compile(src_l)["fl"](theta, b, 2)
        assert np.isnan(a[:2]).all() and np.isnan(a[-1])  # writes exactly out[start:start+n]
        if ab:
            scale = b[2:-1]
            assert (scale >= 0).all()
        np.testing.assert_array_less(np.abs(a[2:-1] - b[2:-1]), 1e-13 * scale + 1e-300)


def test_linear_bwd_matches_numpy():
    """Row-major bias reduction and both products against numpy (same sums, reordered: 1e-12 rel)."""
    rng = np.random.default_rng(7)
    N, n_in, n_out = 37, 5, 6
    theta = rng.standard_normal(n_in * n_out + n_out)
    X, dZ = rng.standard_normal((N, n_in)), rng.standard_normal((N, n_out))
    grad, dX = np.zeros_like(theta), np.empty((N, n_in))
    P.linear_bwd(theta, grad, 0, n_in * n_out, n_in, n_out, True, X, dZ, dX, True)
    W = theta[:n_in * n_out].reshape(n_out, n_in)
    np.testing.assert_allclose(grad[:n_in * n_out].reshape(n_out, n_in), dZ.T @ X, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad[n_in * n_out:], dZ.sum(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dX, dZ @ W, rtol=1e-12, atol=1e-12)


def test_blas_threads_switch_and_restore():
    before = [g() for g, _ in P._openblas_handles()]
    with P.blas_threads(1):
        assert all(g() == 1 for g, _ in P._openblas_handles())
    assert [g() for g, _ in P._openblas_handles()] == before
    assert P.blas_threads_for(1e3) == 1


def test_gram_kernels_in_generated_module_and_bench_agreement():
    """A linear MLP wide enough for the Gram path: the generated module uses it, the exact GD law holds
    at every step (verify's 1e-10), and the numpy baseline's charges agree to the benchmark's 1e-10."""
    from noether.bench.problems import Problem
    from noether.bench.suite import bench_problem
    p = Problem("linear", GRAM_MIN_H, 24, 5, input=3, out=2, lr=0.05)
    rows = bench_problem(p, ["noether", "numpy"], repeats=1)
    assert {r.method for r in rows} == {"noether", "numpy"}
    assert all(r.max_rel_diff <= 1e-10 and r.steps_per_s > 0 for r in rows)
    from noether.kernels.codegen import build_kernels
    k = build_kernels(derive(p.model()))
    assert "gram_pair(" in k.path.read_text()
    from noether.bench.methods import NoetherMethod
    m = NoetherMethod(p, None, k)
    m.check()
    assert m.law_resid <= 1e-10


def test_bench_agreement_relu_with_optional_baselines():
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    from noether.bench.problems import Problem
    from noether.bench.suite import bench_problem
    rows = bench_problem(Problem("relu", 6, 20, 4, input=3, out=2), ["noether", "numpy", "torch", "jax"], 1)
    assert max(r.max_rel_diff for r in rows) <= 1e-10


def test_bench_cli_rejects_bad_plot_name(capsys):
    from noether.cli import main
    assert main(["bench", "--plot", "x.txt"]) == 2
    assert "--plot" in capsys.readouterr().err
