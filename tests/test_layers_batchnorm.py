"""Training-mode batchnorm (Ioffe & Szegedy 2015): the loss couples a batch's samples.  Reference
vs finite differences, kernels vs reference, the exact search (whole symbolic batches) vs its
numeric cross-check, the scale charges before a normalisation (Kunin et al. 2021) exact at
eps = 0 and reported broken by eps > 0, verify, and bad input."""

import os

import numpy as np
import pytest
import sympy as sp

from noether.derive.derivation import derive
from noether.derive.global_search.exact import global_exact
from noether.derive.global_search.numeric import cross_check
from noether.errors import SpecError
from noether.kernels.codegen import build_kernels
from noether.model import Activation, BatchNorm, Linear, Model, Residual
from noether.verify import VerifyOptions, verify
from helpers import assert_gradient_matches_fd, assert_kernel_matches_reference, layer_data

CACHE = os.environ.get("NOETHER_CACHE", "/tmp/nc_tests")

MODELS = {
    "eps0": lambda: Model(2, [Linear(3), BatchNorm(eps=0.0), Linear(2)]),
    "affine_eps": lambda: Model(2, [Linear(3), BatchNorm(affine=True), Linear(1)]),
    "residual_ce": lambda: Model(2, [Linear(2), Residual([BatchNorm(eps=0.0), Linear(2)])], loss="cross_entropy"),
}
S = lambda n: sp.Symbol(n, real=True)  # noqa: E731


_DERIVED = {}


def _derive(name):
    """One derivation per model (the eps > 0 ones also run the eps = 0 search and a GD run)."""
    if name not in _DERIVED:
        _DERIVED[name] = derive(MODELS[name]())
    return _DERIVED[name]



def _in_span(target, exprs, syms):
    polys = [sp.Poly(e, *syms) for e in exprs] + [sp.Poly(sp.expand(target), *syms)]
    monos = sorted(set().union(*(q.as_dict().keys() for q in polys)))
    mat = sp.Matrix([[q.as_dict().get(k, 0) for k in monos] for q in polys])
    return mat.rank() == mat[:-1, :].rank()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_reference_and_kernels(name):
    m = MODELS[name]()
    X, Y, th = layer_data(m, 1, n=6)
    # the batch variance of 6 samples is O(1): no amplification of the difference quotients
    assert_gradient_matches_fd(m, th, X, Y)
    assert_kernel_matches_reference(build_kernels(_derive(name), CACHE), m, th, X, Y)


def test_batch_statistics_couple_samples():
    """Changing one sample changes the others' outputs (not a per-sample layer)."""
    m = MODELS["eps0"]()
    X, _, th = layer_data(m, 2, n=6)
    X2 = X.copy()
    X2[0] += 1.0
    # a generic O(1) change of the batch mean moves every normalised output by O(0.1)
    assert np.abs(m.forward(th, X2)[1:] - m.forward(th, X)[1:]).max() > 1e-3


def test_scale_and_mean_charges_exact_at_eps0():
    """Kunin et al.: per unit, |W1[i, :]|² is conserved before batchnorm (row scaling); the batch
    mean makes b1 invisible, so each b1_i is conserved.  Cross-checked numerically."""
    m = MODELS["eps0"]()
    res = global_exact(m)
    found = [e for e, _ in res.charges]
    for i in range(3):
        assert _in_span(S(f"W1_{i}_0") ** 2 + S(f"W1_{i}_1") ** 2, found, m.symbols)
        assert _in_span(S(f"b1_{i}"), found, m.symbols)
    assert res.n_independent_charges == 6
    out = cross_check(m, res)
    assert out["dim"] == res.dim and out["gap"][0] < 1e-12 < 1e-6 < out["gap"][1]


def test_eps_breaks_the_scale_not_the_mean():
    d = _derive("affine_eps")
    m = d.model
    kept = [c.expr for c in d.charges]
    for i in range(3):
        assert _in_span(S(f"b1_{i}"), kept, m.symbols)              # the mean is still removed
        assert not _in_span(S(f"W1_{i}_0") ** 2 + S(f"W1_{i}_1") ** 2, kept, m.symbols)
    broken = d.extra["broken_by_eps"]
    drifts = [b["relative_drift"] for b in broken if "charge" in b]
    assert len(drifts) == 3 and all(x > 0 for x in drifts)        # measured along the run
    assert all(b["violation_at_init"] > 0 for b in broken if "generator" in b)


def test_verify_batchnorm():
    # no bias before the normalisation keeps the algebra small (b1 would add (D+1)·3 θ-multiples
    # of the flat ∂/∂b1, whose Bregman charges are identically 0: see test_layers_attention)
    m = Model(2, [Linear(3, bias=False), BatchNorm(eps=0.0, affine=True), Linear(2)])
    rep = verify(m, VerifyOptions(steps=200, cache=CACHE), progress=lambda *_: None)
    assert rep.checks and all(c.ok for c in rep.checks)
    assert {c.check for c in rep.checks} == {"gd", "gf", "bregman"}


def test_spec_and_bad_input():
    m = Model.from_dict({"input": 2, "layer": [{"type": "linear", "out": 3},
                                               {"type": "batchnorm", "affine": True, "eps": 0.001}]})
    assert m.parameters[-6:] == [f"g2_{i}" for i in range(3)] + [f"beta2_{i}" for i in range(3)]
    assert Model.from_dict(m.to_dict()).digest == m.digest
    with pytest.raises(SpecError, match=r"layer\[1\]\.eps"):
        Model.from_dict({"input": 2, "layer": [{"type": "linear", "out": 3}, {"type": "batchnorm", "eps": -1}]})
    with pytest.raises(SpecError, match=r"layer\[1\]\.momentum"):
        Model.from_dict({"input": 2, "layer": [{"type": "linear", "out": 3},
                                               {"type": "batchnorm", "momentum": 0.1}]})


def test_singular_sample_points_are_redrawn():
    """BatchNorm(eps=0) after ReLU units that are all dead on a batch divides 0 by 0; such points
    (about one in eight here) are redrawn, so no NaN reaches a rank.  Unfixed, this model's
    derivation crashed in an eigensolver and the CNN of derivations/kunin_torch_cnn.py returned an
    empty algebra.  The charges are the literature's: the two biases before the normalisation
    (translations), the scale of each row into it, and the rescale of each ReLU unit."""
    m = Model(1, [Linear(2), Activation("relu"), Linear(2), BatchNorm(eps=0.0), Linear(2)])
    d = derive(m)
    syms = sorted({s for c in d.charges for s in c.expr.free_symbols} | set(m.symbols), key=str)
    expected = [S("b2_0"), S("b2_1"),
                S("W2_0_0") ** 2 + S("W2_0_1") ** 2, S("W2_1_0") ** 2 + S("W2_1_1") ** 2]
    expected += [S(f"W1_{j}_0") ** 2 + S(f"b1_{j}") ** 2 - S(f"W2_0_{j}") ** 2 - S(f"W2_1_{j}") ** 2 for j in (0, 1)]
    assert d.n_charges == len(expected)
    exprs = [c.expr for c in d.charges]
    for e in expected:
        assert _in_span(e, exprs, syms), e


def test_nowhere_finite_model_is_refused(monkeypatch):
    """A model that is non-finite at every sampled point is refused, not given an empty algebra."""
    import importlib
    gs = importlib.import_module("noether.derive.global_search.numeric")
    monkeypatch.setattr(gs, "output_jacobian", lambda model, theta, X: np.full((1, model.D), np.nan))
    m = Model(2, [Linear(2), BatchNorm(eps=0.0), Linear(1)])
    with pytest.raises(gs.GlobalSearchError, match="non-finite"):
        gs.jacobian_sample(m, np.random.default_rng(0), 3)
