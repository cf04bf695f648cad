"""Literature results, as tests of the general engine (no code path knows them)."""

import sympy as sp

from helpers import mlp
from noether.derive import derive


def S(name):
    return sp.Symbol(name, real=True)


def test_du_hu_lee_relu_balancedness():
    """Du, Hu, Lee (2018): |w_in|² + b² − |w_out|² per hidden ReLU neuron."""
    m = mlp("relu", (3, 4, 2))
    d = derive(m)
    assert d.n_charges == 4 and d.n_independent_charges == 4
    for i in range(4):
        want = sum(S(f"W1_{i}_{k}") ** 2 for k in range(3)) + S(f"b1_{i}") ** 2 - sum(S(f"W2_{k}_{i}") ** 2 for k in range(2))
        assert any(sp.expand(c.expr - want) == 0 for c in d.charges)


def test_zhao_linear_matrix_charge():
    """Zhao et al. (2023), Marcotte et al. (2023): W1W1ᵀ + b1b1ᵀ − W2ᵀW2 for linear networks."""
    m = mlp("identity", (3, 4, 2))
    d = derive(m)
    W1 = sp.Matrix(4, 3, lambda i, k: S(f"W1_{i}_{k}"))
    b1 = sp.Matrix(4, 1, lambda i, _: S(f"b1_{i}"))
    W2 = sp.Matrix(2, 4, lambda k, i: S(f"W2_{k}_{i}"))
    Q = W1 * W1.T + b1 * b1.T - W2.T * W2
    exprs = [c.expr for c in d.charges]
    assert len(exprs) == 10 and d.n_independent_charges == 10
    for i in range(4):
        for j in range(i, 4):
            assert any(sp.expand(e - Q[i, j]) == 0 for e in exprs), (i, j)


def test_homogeneous_degree_alpha_form():
    """Degree-α homogeneous σ: |w_in|² + b² − α|w_out|² (Zhao et al.; docs/theory.md §3).  The
    factor α sits on w_out: d/dt of this form vanishes, of α|w_in|² − |w_out|² it does not."""
    for act, alpha in [("z**3", 3), ("z*Abs(z)", 2), ("Max(z, 0)**2", 2)]:
        m = mlp(act, (2, 3, 2))
        d = derive(m)
        want = sum(S(f"W1_0_{k}") ** 2 for k in range(2)) + S("b1_0") ** 2 - alpha * sum(S(f"W2_{k}_0") ** 2 for k in range(2))
        assert any(sp.expand(c.expr - want) == 0 for c in d.charges), act


def test_exp_activation_translation_charge():
    """σ(z + s) = e^s σ(z): a bias translation absorbed by rescaling the outgoing column."""
    d = derive(mlp("exp", (2, 3, 2)))
    want = 2 * S("b1_0") - S("W2_0_0") ** 2 - S("W2_1_0") ** 2
    assert any(sp.expand(c.expr - want) == 0 for c in d.charges)
    assert derive(mlp("exp", (2, 3, 2), bias=(False, True))).dim == 0


def test_no_continuous_symmetry_for_tanh():
    d = derive(mlp("tanh", (3, 4, 2)))
    assert d.dim == 0 and d.n_charges == 0
