"""The structured per-interface engine against an independent global search, and its invariants."""

import numpy as np
import pytest
import sympy as sp

from helpers import flow, mlp
from noether.derive import derive
from noether.derive.algebra import lie_bracket
from noether.derive.global_search.numeric import global_search

# Activations nobody listed in the catalogue, plus catalogue ones: the engine sees expressions only.
ACTS = ["relu", "identity", "tanh", "exp", "z**3", "z + 1", "Abs(z)", "Max(z, z/5)", "Min(z, 0)",
        "z*Abs(z)", "sin(z)", "2*z - 3", "Heaviside(z)*z**2", "exp(z) + 1", "z**2 + 1",
        "Piecewise((z, z > 0), (3*z, True))", "softplus", "sigmoid", "gelu"]
BIASES = [(True, True), (False, False), (True, False), (False, True)]


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("bias", BIASES)
def test_structured_matches_global_search(act, bias):
    m = mlp(act, (2, 3, 2), bias)
    d = derive(m)
    g = global_search(m, seed=1)
    # the numeric search must show a clean gap: null directions at rounding level (~1e-15),
    # the rest far above; anything in between would make the comparison meaningless
    assert g.gap[0] < 1e-10 and g.gap[1] > 1e-6
    assert (d.dim, d.orbit_rank, d.n_charges) == (g.dim, g.orbit_rank, g.gradient_dim)


@pytest.mark.parametrize("act", ["relu", "identity", "z**3", "exp", "z + 1"])
def test_generators_leave_model_invariant_exactly(act):
    """exp(tX) for every generator: outputs unchanged to rounding at finite t."""
    m = mlp(act, (3, 4, 2))
    d = derive(m)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20, 3))
    for gen in d.algebra.generators:
        theta = m.init(rng)
        F0 = m.forward(theta, X)
        th_t = flow(gen, theta, 0.7, m.D)
        F1 = m.forward(th_t, X)
        # outputs are O(1); expm and two forward passes add rounding ~1e-15 * D
        np.testing.assert_allclose(F1, F0, rtol=0, atol=1e-11 * (1 + np.abs(F0).max()))


def test_charges_are_orthogonal_to_gradients():
    m = mlp("Max(z, z/5)", (3, 5, 2))
    d = derive(m)
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    syms = m.symbols
    for c in d.charges:
        theta = m.init(rng)
        _, g = m.loss_and_grad(theta, X, Y)
        gc = np.zeros(m.D)
        for s in c.expr.free_symbols:
            gc[m.index(s.name)] = float(sp.diff(c.expr, s).subs(dict(zip(syms, theta))))
        # ∇C·∇L = 0 exactly; float64 dot products of O(1) vectors: ~1e-15 * D
        assert abs(gc @ g) <= 1e-12 * (np.abs(gc) @ np.abs(g) + 1e-300)


def test_algebra_is_closed_under_brackets():
    m = mlp("identity", (2, 3, 2))
    d = derive(m)
    gens = d.algebra.generators
    D = m.D
    basis = np.array([np.concatenate([g.matrix(D).ravel(), [float(g.c.get(r, 0)) for r in range(D)]]) for g in gens])
    r0 = np.linalg.matrix_rank(basis)
    for a in gens[:6]:
        for b in gens[:9]:
            br = lie_bracket(a, b)
            v = np.concatenate([br.matrix(D).ravel(), [float(br.c.get(r, 0)) for r in range(D)]])
            # exact integer entries: a rank increase would be a genuine non-closure
            assert np.linalg.matrix_rank(np.vstack([basis, v])) == r0


def test_width_does_not_change_the_derivation_cost_model():
    """Wide layers are described by families with exact counts, without explicit enumeration."""
    m = mlp("relu", (8, 1024, 4))
    d = derive(m)
    assert d.dim == 1024 and d.n_charges == 1024
    fam = d.charge_families[0]
    assert str(fam.indexed(fam.terms[0][1].itf)).count("Sum") == 2
    wide_linear = mlp("identity", (8, 1024, 4))
    dl = derive(wide_linear)
    assert dl.dim == 1024**2 + 1024 and dl.n_charges == 1024 * 1025 // 2


def test_indexed_formula_equals_explicit_charge():
    m = mlp("identity", (3, 4, 2))
    d = derive(m)
    sub = {}
    for b in m.blocks:
        base = sp.IndexedBase(b.name)
        for name, idx in zip(b.symbol_names(), np.ndindex(*b.shape)):
            sub[base[idx] if len(idx) > 1 else base[idx[0]]] = sp.Symbol(name, real=True)
    i, j = sp.symbols("i j", integer=True, nonnegative=True)
    for c in d.charges:
        cf = next(f for f in d.charge_families if f.name == c.family)
        idx = [int(x) for x in c.name.split("[")[1].rstrip("]").split(",")]
        e = cf.indexed(cf.terms[0][1].itf).subs(dict(zip([i, j], idx))).doit().xreplace(sub)
        assert sp.expand(e - c.expr) == 0


def test_discrete_symmetries_found_from_sigma():
    kinds = lambda act: sorted(s["kind"] for s in derive(mlp(act)).discrete)  # noqa: E731
    assert kinds("tanh") == ["flip", "permutation"]          # odd
    assert kinds("relu") == ["permutation"]
    assert kinds("sigmoid") == ["flip", "permutation"]       # σ(−z) = 1 − σ(z), absorbed by b2
    assert kinds("z**2") == ["flip", "permutation"]          # even
    flips = [s for s in derive(mlp("sigmoid")).discrete if s["kind"] == "flip"]
    assert "sigma(-z) = -1*sigma(z) + 1" in flips[0]["relation"]


def test_discrete_flip_is_a_symmetry():
    from noether.derive.discrete import apply_flip, apply_permutation
    for act in ["tanh", "sigmoid", "z**2", "relu"]:
        m = mlp(act, (3, 4, 2))
        d = derive(m)
        rng = np.random.default_rng(5)
        theta, X = m.init(rng), rng.standard_normal((10, 3))
        itf = d.algebra.interfaces[0]
        F0 = m.forward(theta, X)
        np.testing.assert_allclose(m.forward(apply_permutation(m, theta, itf, [2, 0, 3, 1]), X), F0, atol=1e-13)
        for a, b in itf.sol.flips:
            np.testing.assert_allclose(m.forward(apply_flip(m, theta, itf, 1, a, b), X), F0, atol=1e-13)


def test_cli_method_names_are_the_registered_methods():
    from noether.commands.derive import METHOD_NAMES
    from noether.derive import METHODS
    assert set(METHOD_NAMES) == {"auto"} | set(METHODS)


def test_forcing_a_method_that_does_not_apply_is_refused():
    from noether.errors import SpecError
    from noether.model import Model
    m = Model.from_toml('name = "x"\ninput = 2\nloss = "cross_entropy"\n[[layer]]\ntype = "linear"\nout = 3\n')
    with pytest.raises(SpecError, match="per-interface method takes the MSE loss only"):
        derive(m, method="interface")
