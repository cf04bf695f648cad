"""Residual blocks x + F(x) (He et al. 2016): reference vs finite differences, kernels vs the
reference, the exact search vs its numeric cross-check, verify, spec round trip and bad input."""

import os
import subprocess
import sys

import pytest
import sympy as sp

from noether.derive.derivation import derive
from noether.derive.global_search.exact import global_exact
from noether.derive.global_search.numeric import cross_check
from noether.errors import SpecError
from noether.kernels.codegen import build_kernels
from noether.model import Activation, Attention, LayerNorm, Linear, Model, Residual
from noether.verify import VerifyOptions, verify
from helpers import assert_gradient_matches_fd, assert_kernel_matches_reference, layer_data

CACHE = os.environ.get("NOETHER_CACHE", "/tmp/nc_tests")

MODELS = {
    "relu_mlp": lambda: Model(2, [Residual([Linear(3), Activation("relu"), Linear(2)]), Linear(1)]),
    "attention": lambda: Model(2, [Residual([Attention(d_k=1, d_v=1)]), Linear(1)], seq=2),
    "layernorm_ce": lambda: Model(2, [Linear(2), Residual([LayerNorm(eps=0.0), Linear(2)])], loss="cross_entropy"),
}



@pytest.mark.parametrize("name", sorted(MODELS))
def test_reference_and_kernels(name):
    m = MODELS[name]()
    X, Y, th = layer_data(m, 1)
    assert_gradient_matches_fd(m, th, X, Y)
    assert_kernel_matches_reference(build_kernels(derive(m), CACHE), m, th, X, Y)


def test_relu_neuron_scaling_inside_the_block():
    """Kunin et al. 2021 inside F: |W1[i,:]|² + b1_i² − |W2[:,i]|² per hidden unit, unchanged by
    the skip (the skip adds x, which no rescaling of hidden units touches)."""
    m = MODELS["relu_mlp"]()
    res = global_exact(m)
    S = lambda n: sp.Symbol(n, real=True)  # noqa: E731
    want = {sp.expand(S(f"W1_{i}_0") ** 2 + S(f"W1_{i}_1") ** 2 + S(f"b1_{i}") ** 2
                      - S(f"W2_0_{i}") ** 2 - S(f"W2_1_{i}") ** 2) for i in range(3)}
    assert want == {sp.expand(e) for e, _ in res.charges}
    out = cross_check(m, res)
    assert out["dim"] == res.dim and out["gap"][0] < 1e-12 < 1e-6 < out["gap"][1]


def _in_span(target, exprs, syms):
    polys = [sp.Poly(e, *syms) for e in exprs] + [sp.Poly(target, *syms)]
    monos = sorted(set().union(*(q.as_dict().keys() for q in polys)))
    mat = sp.Matrix([[q.as_dict().get(k, 0) for k in monos] for q in polys])
    return mat.rank() == mat[:-1, :].rank()


def test_skip_breaks_the_plain_layernorm_scale():
    """Without the skip, LN(h) makes the scale of h = W1 x + b1 invisible (Kunin et al. scale
    charge |W1|² + |b1|²); with y = h + W2 LN(h) + b2 the skip sees h, so that charge must be gone,
    while the softmax translation Σ b2 (Kunin et al.) stays, and the mean direction of h (killed
    by LN, a uniform shift through the skip, killed by softmax) gives the column sums of W1."""
    m = MODELS["layernorm_ce"]()
    found = [e for e, _ in global_exact(m).charges]
    S = lambda n: sp.Symbol(n, real=True)  # noqa: E731
    assert _in_span(S("b2_0") + S("b2_1"), found, m.symbols)
    assert _in_span(S("W1_0_0") + S("W1_1_0"), found, m.symbols)
    scale = sum(S(f"W1_{i}_{j}") ** 2 for i in range(2) for j in range(2)) + S("b1_0") ** 2 + S("b1_1") ** 2
    assert not _in_span(sp.expand(scale), found, m.symbols)
    plain = Model(2, [Linear(2), LayerNorm(eps=0.0), Linear(2)], loss="cross_entropy")
    assert _in_span(sp.expand(scale), [e for e, _ in global_exact(plain).charges], plain.symbols)


def test_verify_residual():
    m = MODELS["relu_mlp"]()
    rep = verify(m, VerifyOptions(steps=200, cache=CACHE), progress=lambda *_: None)
    assert rep.checks and all(c.ok for c in rep.checks)
    assert {c.check for c in rep.checks} == {"gd", "gf", "bregman"}


def test_spec_round_trip_and_size_error():
    spec = {"input": 2, "layer": [{"type": "residual", "layer": [{"type": "linear", "out": 3},
                                                                  {"type": "activation", "fn": "relu"},
                                                                  {"type": "linear", "out": 2}]},
                                  {"type": "linear", "out": 1}]}
    m = Model.from_dict(spec)
    assert m.parameters == MODELS["relu_mlp"]().parameters
    assert Model.from_dict(m.to_dict()).digest == m.digest
    spec["layer"][0]["layer"][2]["out"] = 3
    with pytest.raises(SpecError, match=r"layer\[0\]\.layer\[2\]\.out"):
        Model.from_dict(spec)
    with pytest.raises(SpecError, match=r"residual\.layer\[0\]\.out"):
        Residual([Linear(3)]).bind(2, 1)


def test_cli_bad_residual_exits_2(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('input = 2\n[[layer]]\ntype = "residual"\n[[layer.layer]]\ntype = "linear"\nout = 3\n')
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([sys.executable, "-m", "noether.cli", "derive", str(spec)], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "layer[0].layer[0].out" in p.stderr
