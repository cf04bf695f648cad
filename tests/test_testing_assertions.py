"""The assertions of ``noether.testing``: each passes on a true claim and fails on a false one."""

import numpy as np
import pytest

import noether.testing as nt
from noether.model import Activation, Linear, Model
from noether.optim import OPTIMIZERS


def relu_net():
    return Model(3, [Linear(4), Activation("relu"), Linear(2)])


def setup(seed=0):
    rng = np.random.default_rng(seed)
    m = relu_net()
    return m, m.init(rng), rng.standard_normal((6, 3)), rng.standard_normal((6, 2))


def test_invariant_true_and_false_with_message():
    m, th, X, Y = setup()
    nt.assert_invariant(m, "W1[2,:] -> 3*W1[2,:]; b1[2] -> 3*b1[2]; W2[:,2] -> W2[:,2]/3", th, X, Y)
    with pytest.raises(nt.ClaimFailure) as e:
        nt.assert_invariant(m, "W1[2,:] -> 3*W1[2,:]", th, X, Y)
    msg = str(e.value)
    assert "claim: loss invariant under W1[2,:] -> 3*W1[2,:]" in msg
    assert "violation" in msg and "tolerance" in msg and "W1 = " in msg and "X = " in msg
    assert e.value.violation > 1e6 * e.value.bound


def test_invariant_accepts_params_dict_and_callable_transform():
    m, th, X, Y = setup(1)
    p = m.unflatten(th)

    def swap01(q):
        q = {k: v.copy() for k, v in q.items()}
        q["W1"][[0, 1]] = q["W1"][[1, 0]]
        q["b1"][[0, 1]] = q["b1"][[1, 0]]
        q["W2"][:, [0, 1]] = q["W2"][:, [1, 0]]
        return q
    nt.assert_invariant(m, swap01, p, X, Y)


def test_equivariance_of_layers():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4))
    relu, tanh = Activation("relu"), Activation("tanh")
    relu.bind(4, None)
    tanh.bind(4, None)
    s = np.array([0.5, 2.0, 3.0, 1.0])
    P = [2, 0, 3, 1]
    nt.assert_equivariant(relu, lambda a: a * s, lambda a: a * s, x)          # positive scaling
    nt.assert_equivariant(tanh, lambda a: a[:, P], lambda a: a[:, P], x)      # permutation
    nt.assert_equivariant(tanh, lambda a: -a, lambda a: -a, x)                # odd
    with pytest.raises(nt.ClaimFailure, match="equivariant"):
        nt.assert_equivariant(tanh, lambda a: a * s, lambda a: a * s, x)


def test_conserved_under_gradient_flow_pointwise_and_integrated():
    m, th, X, Y = setup(2)
    C = "sum(W1[1,:]**2) + b1[1]**2 - sum(W2[:,1]**2)"
    nt.assert_conserved(m, C, th, X, Y)
    nt.assert_conserved(m, C, th, X, Y, T=0.5)
    with pytest.raises(nt.ClaimFailure, match="gradient flow"):
        nt.assert_conserved(m, "sum(W1**2) + sum(W2**2)", th, X, Y)


def test_gd_breaks_conservation_and_follows_the_derived_law():
    m, th, X, Y = setup(4)
    d = nt.derivation_of(m)
    live = [c for c in d.charges if c.independent]
    assert live
    C = live[0].expr
    with pytest.raises(nt.ClaimFailure, match="at step"):
        for c in d.charges:   # every unit that moves breaks the GF charge at finite lr
            nt.assert_conserved(m, c.expr, th, X, Y, optimizer="gd", lr=0.1, steps=5)
    nt.assert_law(m, th, X, Y, optimizer="gd", lr=0.1, steps=20)
    # the stated law eta^2/2 gᵀAg as a callable: A = Hessian of C
    A, c = nt.assertions.quantity(C, nt.target.Layout.of_model(m), m.unflatten).quadratic_form()
    nt.assert_conserved(m, C, th, X, Y, optimizer="gd", lr=0.1, steps=10,
                        law=lambda s: 0.5 * 0.1 ** 2 * s["g"] @ A @ s["g"])


def test_a_diverging_run_is_checked_up_to_the_step_where_it_overflows():
    # hypothesis found this one (CI, hypothesis 6.170): GD at lr 0.1 blows up; by step 7 the charge
    # itself overflows float64 (C_k+1 - C_k = inf - inf). The steps before were checked and hold,
    # and a false charge on the same run still fails, at step 0.
    m = relu_net()
    th = np.zeros(m.D)
    th[:3], th[20] = 2.0, 1.0
    X, Y = np.array([[2.0, 2.0, 2.0], [0.0, 0.0, -2.0]]), np.zeros((2, 2))
    with np.errstate(over="ignore", invalid="ignore"):
        steps = list(nt.stepping.steps(nt.stepping.make_rule("gd", 0.1), lambda t: m.loss_and_grad(t, X, Y)[1],
                                       th, 10))
        assert not np.isfinite(0.5 * steps[-1]["theta_next"] @ steps[-1]["theta_next"])
    nt.assert_law(m, th, X, Y, optimizer="gd", lr=0.1, steps=10)
    with pytest.raises(nt.ClaimFailure, match="at step 0"):
        nt.assert_law(m, th, X, Y, optimizer="gd", lr=0.1, steps=10, charges=["sum(W1**2)"])


def test_non_finite_prediction_fails_and_an_unfinite_start_is_bad_input():
    # a stated law that returns nan, with finite charges, is a false claim, not a divergence
    m, th, X, Y = setup(6)
    with pytest.raises(nt.ClaimFailure, match="at step 0"):
        nt.assert_conserved(m, "sum(W1**2)", th, X, Y, optimizer="gd", law=lambda s: float("nan"))
    # at θ ~ 1e160 the charge itself overflows at step 0: nothing can be checked, so neither a
    # pass nor a ClaimFailure, but a one-line SpecError naming the parameters
    with pytest.raises(nt.SpecError, match="params"):
        nt.assert_law(m, th * 1e160, X, Y, optimizer="gd", charges=["sum(W1**2)"])
    with pytest.raises(nt.SpecError, match="params"):
        nt.assert_conserved(m, "sum(W1**2)", th * 1e160, X, Y, optimizer="gd")


@pytest.mark.skipif("momentum" not in OPTIMIZERS, reason="no momentum rule in noether.optim")
def test_momentum_law_holds_and_gd_law_does_not_apply():
    m, th, X, Y = setup(5)
    nt.assert_law(m, th, X, Y, optimizer="momentum", lr=0.05, steps=15, hyper={"momentum": 0.9})
    d = nt.derivation_of(m)
    c = d.charges[0]
    A = float(c.kappa) * c.generator.matrix(m.D)
    # the GD law (½η² gᵀAg) is not the momentum law: stated as a momentum law it fails
    with pytest.raises(nt.ClaimFailure):
        for ch in d.charges:
            A = float(ch.kappa) * ch.generator.matrix(m.D)
            nt.assert_conserved(m, ch.expr, th, X, Y, optimizer="momentum", lr=0.05, steps=15,
                                hyper={"momentum": 0.9}, law=lambda s, A=A: 0.5 * 0.05 ** 2 * s["g"] @ A @ s["g"])


def test_nonfinite_values_fail_the_claim_and_division_by_zero_is_bad_input():
    m, th, X, Y = setup(6)
    with pytest.raises(nt.ClaimFailure):   # log of negative entries: nan, never "within tolerance"
        nt.assert_invariant(m, "W1 -> log(W1)", th, X, Y)
    with pytest.raises(nt.SpecError, match="not finite"):
        nt.assert_invariant(m, "W1 -> W1/0", th, X, Y)
