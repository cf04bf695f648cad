"""Self-attention (Vaswani et al. 2017): reference vs finite differences and sympy, numba kernels vs
the reference, the exact global search vs its numeric cross-check, verify, and the literature
checks: the GL(d_k) charges of W_Q, W_K and the invisibility of the key bias under softmax."""

import os
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

from noether.derive.derivation import derive
from noether.derive.global_search.exact import global_exact
from noether.derive.span import Span
from noether.derive.generator import Generator
from noether.derive.global_search.numeric import cross_check
from noether.errors import SpecError
from noether.kernels.codegen import build_kernels
from noether.model import Attention, Linear, Model
from noether.model.activation import Activation
from noether.verify import VerifyOptions, verify
from helpers import assert_gradient_matches_fd, assert_kernel_matches_reference, layer_data

CACHE = os.environ.get("NOETHER_CACHE", "/tmp/nc_tests")

MODELS = {
    "dk2_bias": lambda: Model(2, [Attention(d_k=2, d_v=1, out=1)], seq=2),
    "heads2_nobias_ce": lambda: Model(2, [Attention(d_k=1, heads=2, d_v=1, out=1, bias=False)], seq=3,
                                      loss="cross_entropy"),
    "then_linear": lambda: Model(2, [Attention(d_k=1, d_v=2, out=2), Activation("tanh"), Linear(1)], seq=2),
}


_DERIVED = {}


def _derive(name):
    """One derivation per model (the eps > 0 ones also run the eps = 0 search and a GD run)."""
    if name not in _DERIVED:
        _DERIVED[name] = derive(MODELS[name]())
    return _DERIVED[name]



@pytest.mark.parametrize("name", sorted(MODELS))
def test_reference_matches_finite_differences_and_sympy(name):
    m = MODELS[name]()
    X, Y, th = layer_data(m, 1)
    assert_gradient_matches_fd(m, th, X, Y)
    xs = sp.symbols(f"x0:{m.input}", real=True)
    sub = dict(zip(m.symbols, th)) | dict(zip(xs, X[0]))
    sym = [float(o.subs(sub)) for o in m.symbolic_output(list(xs))]
    # the same real function evaluated two ways (max-shifted softmax vs plain exp): ~1e-15
    assert np.allclose(sym, m.forward(th, X[:1])[0], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_kernels_match_reference(name):
    d = _derive(name)
    m = d.model
    k = build_kernels(d, CACHE)
    for seed in (2, 3):
        X, Y, th = layer_data(m, seed, n=7)
        assert_kernel_matches_reference(k, m, th, X, Y)


def _gl_dk_generator(m, M, name):
    """X_M: WQ_h → M WQ_h, bQ_h → M bQ_h, WK_h → −Mᵀ WK_h, bK_h → −Mᵀ bK_h (head 0), written out
    here from the literature statement Q Kᵀ = (G Q)(G^{-T} K)ᵀ, to test the search against."""
    att = m.layers[0]
    g = Generator(name, "literature")
    dk, n = att.d_k, att.n
    for a in range(dk):
        for b in range(dk):
            for j in range(n):
                g.add(m.index(f"WQ1_0_{a}_{j}"), m.index(f"WQ1_0_{b}_{j}"), sp.Integer(M[a][b]))
                g.add(m.index(f"WK1_0_{a}_{j}"), m.index(f"WK1_0_{b}_{j}"), -sp.Integer(M[b][a]))
            if att.bias:
                g.add(m.index(f"bQ1_0_{a}"), m.index(f"bQ1_0_{b}"), sp.Integer(M[a][b]))
                g.add(m.index(f"bK1_0_{a}"), m.index(f"bK1_0_{b}"), -sp.Integer(M[b][a]))
    return g


@pytest.mark.parametrize("bias", [True, False])
def test_gl_dk_generators_and_charges(bias):
    """GL(d_k): every X_M is in the exact search's span; the charges are the entries of
    WQ WQᵀ + bQ bQᵀ − WK WKᵀ − bK bKᵀ (symmetric M), found from the definition alone."""
    m = Model(2, [Attention(d_k=2, d_v=1, out=1, bias=bias)], seq=2)
    res = global_exact(m)
    span = Span(m.D)
    for g in res.generators:
        span.add(g)
    for a in range(2):
        for b in range(2):
            M = [[int(a == i and b == j) for j in range(2)] for i in range(2)]
            assert not span.add(_gl_dk_generator(m, M, "X"))       # already in the span
    # charges: each literature charge is a linear combination of the found ones (coefficient span)
    S = sp.Symbol
    want = []
    for a in range(2):
        for b in range(a, 2):
            e = sum(S(f"WQ1_0_{a}_{j}", real=True) * S(f"WQ1_0_{b}_{j}", real=True)
                    - S(f"WK1_0_{a}_{j}", real=True) * S(f"WK1_0_{b}_{j}", real=True) for j in range(2))
            if bias:
                e += S(f"bQ1_0_{a}", real=True) * S(f"bQ1_0_{b}", real=True) \
                    - S(f"bK1_0_{a}", real=True) * S(f"bK1_0_{b}", real=True)
            want.append(sp.expand(e))
    found = [e for e, _ in res.charges]
    polys = [sp.Poly(e, *m.symbols) for e in found + want]
    monos = sorted(set().union(*(p.as_dict().keys() for p in polys)))
    mat = sp.Matrix([[p.as_dict().get(k, 0) for k in monos] for p in polys])
    assert mat.rank() == sp.Matrix(mat[:len(found), :]).rank()
    # and the gradient flow conserves them (numpy reference, RK4 with small steps, seeded)
    X, Y, th = layer_data(m, 4, n=6)
    fns = [sp.lambdify(m.symbols, w) for w in want]
    c0 = np.array([f(*th) for f in fns])

    def F(t):
        return -m.loss_and_grad(t, X, Y)[1]
    h = 1e-2
    for _ in range(100):
        k1 = F(th)
        k2 = F(th + h / 2 * k1)
        k3 = F(th + h / 2 * k2)
        k4 = F(th + h * k3)
        th = th + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    c1 = np.array([f(*th) for f in fns])
    # RK4 preserves quadratic invariants up to O(h⁴) per unit time: ~1e-8·|θ|²; a broken charge
    # moves by O(|∇L|·|θ|·t) ~ 1e-1 here
    assert np.allclose(c1, c0, atol=1e-6)


def test_key_bias_invisible_under_softmax_rows():
    """A row softmax ignores a per-query constant: q·bK is one, so ∂L/∂bK ≡ 0 and every bK_a is
    a conserved (linear) charge; with bias the orbit is GL(2) (4) + bK (2) + V/O scale (1) +
    the bV ↔ bO shift (1) = 8."""
    m = MODELS["dk2_bias"]()
    res = global_exact(m)
    lin = {sp.expand(e) for e, _ in res.charges if sp.Poly(e, *m.symbols).total_degree() == 1}
    assert {sp.Symbol("bK1_0_0", real=True), sp.Symbol("bK1_0_1", real=True)} <= lin
    assert (res.orbit_rank, res.n_independent_charges) == (8, 6)
    X, Y, th = layer_data(m, 5)
    g = m.unflatten(m.loss_and_grad(th, X, Y)[1])
    # analytically zero; in float64 a sum of O(1) terms cancelling: ≲ 1e-15
    assert np.abs(g["bK1"]).max() < 1e-13
    out = cross_check(m, res)
    assert out["dim"] == res.dim and out["gap"][0] < 1e-12 < 1e-6 < out["gap"][1]


@pytest.mark.parametrize("name", ["heads2_nobias_ce", "dk2_bias"])
def test_verify_attention(name):
    d = _derive(name)
    m = d.model
    rep = verify(m, VerifyOptions(steps=200, cache=CACHE), progress=lambda *_: None, deriv=d)
    assert rep.checks and all(c.ok for c in rep.checks)
    assert {c.check for c in rep.checks} == {"gd", "gf", "bregman"}
    # Bregman charges reported as identically zero are exactly the fields along b_K (∂L/∂b_K ≡ 0);
    # every other generator's law is measured
    bk = {m.index(f"bK1_0_{a}") for a in range(m.layers[0].d_k)} if m.layers[0].bias else set()
    along_bk = {f"Q[{g.name}]" for g in d.algebra.generators if {r for r, _ in g.A} | set(g.c) <= bk}
    flat = {c.charge for c in rep.checks if c.check == "bregman" and c.law.startswith("Q = 0 to rounding")}
    assert flat == along_bk
    # the fields along b_K are the (D + 1)·d_k = 18·2 θ-multiples of ∂/∂b_K; the structured search
    # lists the d_k = 2 constant ones and counts the other d_k·D = 34
    assert len(flat) == (2 if bk else 0)
    assert d.algebra.flat_members == (2 * m.D if bk else 0)
    assert d.dim == len(d.algebra.generators) + d.algebra.flat_members


def test_spec_round_trip_and_errors():
    spec = {"input": 2, "seq": 2, "layer": [{"type": "attention", "d_k": 2, "d_v": 1, "out": 1}]}
    m = Model.from_dict(spec)
    assert m.input == 4 and m.output == 2 and m.D == 17
    assert Model.from_dict(m.to_dict()).parameters == m.parameters
    assert "WQ1_0_1_1" in m.parameters and "bO1_0" in m.parameters and "WO1_0_0" in m.parameters
    with pytest.raises(SpecError, match=r"layer\[0\].d_k"):
        Model.from_dict({"input": 2, "seq": 2, "layer": [{"type": "attention"}]})
    with pytest.raises(SpecError, match="seq"):
        Model.from_dict({"input": 2, "layer": [{"type": "attention", "d_k": 1}]})
    with pytest.raises(SpecError, match="spec.seq"):
        Model.from_dict({"input": 2, "seq": 0, "layer": [{"type": "attention", "d_k": 1}]})


@pytest.mark.parametrize("body, field", [('[[layer]]\ntype = "attention"\nout = 1\n', "layer[0].d_k"),
                                         ('[[layer]]\ntype = "attention"\nd_k = 1\n', "seq")])
def test_cli_bad_attention_exits_2(tmp_path, body, field):
    spec = tmp_path / "bad.toml"
    spec.write_text(("input = 2\nseq = 2\n" if "d_k" not in body else "input = 2\n") + body)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([sys.executable, "-m", "noether.cli", "derive", str(spec)], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and field in p.stderr


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=15, deadline=None)     # numba compiles the primitives on first use
@given(T=st.integers(1, 4), n=st.integers(1, 3), heads=st.integers(1, 2), d_k=st.integers(1, 3),
       d_v=st.integers(1, 2), out=st.integers(1, 3), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_attention_primitives_match_reference_any_shape(T, n, heads, d_k, d_v, out, bias, seed):
    """The shape-generic numba primitives against the numpy reference, forward and backward."""
    from noether.kernels.primitives import attn_bwd, attn_fwd

    class Ctx:
        offsets = None
    m = Model(n, [Attention(d_k=d_k, heads=heads, d_v=d_v, out=out, bias=bias)], seq=T)
    att, ctx = m.layers[0], Ctx()
    ctx.offsets = m.offsets
    rng = np.random.default_rng(seed)
    th, X = m.init(rng), rng.standard_normal((3, m.input))
    dZ = rng.standard_normal((3, m.output))
    args = [int(a) if a.strip().isdigit() else a.strip() == "True" for a in att._kargs(ctx).split(",")]
    Z = np.empty((3, m.output))
    attn_fwd(th, *args, X, Z)
    p = m.unflatten(th)
    # same operations, different summation order: ~1e-15 relative; 1e-12 is safe
    assert np.allclose(Z, att.forward(X, p), rtol=1e-12, atol=1e-12)
    grad, dX = np.full(m.D, np.nan), np.empty_like(X)
    attn_bwd(th, grad, *args, X, dZ, dX, True)
    ref = np.zeros(m.D)
    dXr = att.backward(X, p, dZ, m.unflatten(ref))
    assert np.allclose(grad, ref, rtol=1e-10, atol=1e-12) and np.allclose(dX, dXr, rtol=1e-10, atol=1e-12)
