"""Exact global search: agreement with the structured MLP method, the numeric SVD cross-check,
and the literature checks (Kunin et al. 2021; Zhao et al. 2023) found from definitions alone."""

import numpy as np
import pytest
import sympy as sp

from noether.derive.derivation import derive
from noether.derive.global_search.exact import global_exact
from noether.derive.global_search.numeric import CrossCheckError, cross_check
from noether.errors import SpecError
from noether.model import LayerNorm, Linear, Model, Radial, RMSNorm
from noether.model.activation import Activation


def _sq(names):
    return sp.expand(sum(sp.Symbol(n, real=True) ** 2 for n in names))


@pytest.mark.parametrize("act", ["relu", "identity", "square"])
def test_structured_mlp_agrees_with_global(act):
    m = Model(2, [Linear(3), Activation(act), Linear(2)])
    d, g = derive(m), global_exact(m)
    # the global space may hold θ-dependent multiples of flat directions: compare the meaningful
    # numbers (docs/theory.md §2 caveat); for these MLPs there are none, so dims agree too
    assert (d.dim, d.orbit_rank, d.n_independent_charges) == (g.dim, g.orbit_rank, g.n_independent_charges)


def test_softmax_translation_charges():
    """Kunin et al. 2021: column sums of the classifier (and Σb) are conserved under softmax CE."""
    m = Model(2, [Linear(3)], loss="cross_entropy")
    g = global_exact(m)
    assert g.orbit_rank == 3 and g.n_independent_charges == 3
    lin = {sp.expand(e) for e, _ in g.charges if sp.Poly(e, *m.symbols).total_degree() == 1}
    want = {sp.expand(sum(sp.Symbol(f"W1_{i}_{j}", real=True) for i in range(3))) for j in range(2)}
    want.add(sp.expand(sum(sp.Symbol(f"b1_{i}", real=True) for i in range(3))))
    assert want <= lin


def test_scale_charge_before_rmsnorm_exact_at_eps0_broken_by_eps():
    """Kunin et al.: |W|² of the weights into a normalisation is conserved; eps > 0 breaks it."""
    mk = lambda eps: Model(2, [Linear(3, bias=False), RMSNorm(eps=eps), Linear(2)])  # noqa: E731
    g0 = global_exact(mk(0.0))
    assert _sq([f"W1_{i}_{j}" for i in range(3) for j in range(2)]) in [e for e, _ in g0.charges]
    m = mk(1e-5)
    d = derive(m)
    assert d.n_charges == 0
    broken = d.extra["broken_by_eps"]
    drifts = [b["relative_drift"] for b in broken if "charge" in b]
    assert len(drifts) == 1 and drifts[0] > 0          # measured along the run, not assumed
    assert all(b["violation_at_init"] > 0 for b in broken if "generator" in b)


def test_layernorm_centring_and_scale():
    """layernorm at eps = 0: scale charge |W1|²+|b1|² and the mean directions made invisible."""
    m = Model(2, [Linear(3), LayerNorm(eps=0.0), Linear(2)])
    g = global_exact(m)
    exprs = [e for e, _ in g.charges]
    names = [f"W1_{i}_{j}" for i in range(3) for j in range(2)] + [f"b1_{i}" for i in range(3)]
    # the scale charge is a function of the listed ones: check its gradient is in their span
    theta = m.init(np.random.default_rng(5))
    grads = np.array([[float(sp.diff(e, s).subs(dict(zip(m.symbols, theta)))) for s in m.symbols] for e in exprs])
    target = np.array([float(sp.diff(_sq(names), s).subs(dict(zip(m.symbols, theta)))) for s in m.symbols])
    coef, *_ = np.linalg.lstsq(grads.T, target, rcond=None)
    # an exact linear dependence at float64: residual ~ 1e-15·|target|
    assert np.linalg.norm(grads.T @ coef - target) < 1e-9 * np.linalg.norm(target)
    assert g.orbit_rank >= 4    # scale + 3 centring directions (one per input column and b)


@pytest.mark.parametrize("f, dim, charges", [("1/(1+r)", 3, 0), ("1/r**2", 4, 1)])
def test_radial_so_h_and_scaling(f, dim, charges):
    """Zhao et al. 2023: so(h) for radial σ, plus a global scaling and its charge for f = 1/r²."""
    m = Model(2, [Linear(3, bias=False), Radial(f), Linear(2, bias=False)])
    g = global_exact(m)
    assert (g.dim, g.orbit_rank, g.n_independent_charges) == (dim, dim, charges)
    assert sum(not x.is_gradient for x in g.generators) == 3          # the rotations
    if charges:
        assert g.charges[0][0] == _sq(m.parameters)


def test_numeric_cross_check_agrees_and_reports_gap():
    m = Model(2, [Linear(3), LayerNorm(eps=0.0), Linear(2)], loss="cross_entropy")
    g = global_exact(m)
    out = cross_check(m, g)
    assert out["dim"] == g.dim
    assert out["gap"][0] < 1e-12 < 1e-7 < out["gap"][1]


def test_cross_check_names_a_wrong_generator():
    m = Model(2, [Linear(3), Activation("relu"), Linear(2)])
    g = global_exact(m)
    from noether.derive.generator import Generator
    bad = Generator("Gbogus", "global")
    bad.add(0, 0, sp.Integer(1))           # scaling one weight alone is no symmetry
    g.generators.append(bad)
    with pytest.raises(CrossCheckError, match="Gbogus"):
        cross_check(m, g)


def test_radial_f_using_z_is_rejected():
    with pytest.raises(SpecError, match="layer\\[1\\].f"):
        Model.from_dict({"input": 2, "layer": [{"type": "linear", "out": 2},
                                               {"type": "radial", "f": "1/(1+z)"}]})


def test_symbolic_model_size_is_bounded(monkeypatch):
    """tree_size counts a shared DAG as the tree the evaluator walks (2^42-node trees in 40 steps),
    and a model whose symbolic outputs outgrow MAX_TREE is refused by the exact route with the size
    it reached rather than left to sympy for hours (an 8x8 conv -> batchnorm -> ... CNN reaches
    1.1e6 nodes; the bound is lowered here so that a small batchnorm model crosses it)."""
    import importlib
    ge = importlib.import_module("noether.derive.global_search.exact")
    from noether.derive.modeval import NotExact
    from noether.model import BatchNorm
    x = sp.Symbol("x")
    e = x
    for _ in range(40):
        e = sp.Mul(e, e + 1, evaluate=False)
    assert ge.tree_size([e]) == 2 ** 42 - 3        # s_k = 2 s_(k-1) + 3, s_0 = 1
    assert ge.tree_size([x, x + 1]) == 3
    m = Model(2, [Linear(3), BatchNorm(eps=0.0), Linear(2)])
    ge.model_problem(m)
    monkeypatch.setattr(ge, "MAX_TREE", 50)
    with pytest.raises(NotExact, match=r"nodes after a batchnorm layer \(the exact route builds up to 50\)"):
        ge.model_problem(m)


def test_coefficients_past_one_prime_are_read_by_crt():
    """A null vector with a coefficient past sqrt(P1/2) ≈ 3·10⁴ (here 40000) cannot be read back
    modulo one prime; the second prime's elimination and the Chinese remainder theorem give it."""
    from fractions import Fraction

    from noether.derive.global_search.exact import P1, Problem, rational_reconstruct, solve
    from noether.derive.global_search.exact import GlobalSearchError

    with pytest.raises(GlobalSearchError):
        rational_reconstruct(-40000 % P1, P1)
    a, b, x = sp.symbols("a b x", real=True)
    prob = Problem([a, b], [x], [x * (a + 40000 * b)], [[1]], ["a", "b"])
    vecs, *_ = solve(prob)
    # the fields X = Aθ + c with (1, 40000)·X = 0: two for A (one per column), one for c
    assert len(vecs) == 3
    assert all(set(v.values()) <= {Fraction(1), Fraction(-40000)} for v in vecs)
    assert any(Fraction(-40000) in v.values() for v in vecs)
