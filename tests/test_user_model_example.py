"""A user's own plain-numpy model under test: no noether Model, just ``loss(params, X, Y)``.

This is what a user's test file looks like: hypothesis draws parameters from a template of
shapes, and the assertions take the loss callable (gradients by finite differences, or the
user's own gradient).
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings

import noether.testing as nt

SHAPES = {"W1": (3, 2), "b1": (3,), "W2": (1, 3)}


def loss(p, X, Y):
    """A 2-layer leaky-ReLU regression net, written by the user in numpy."""
    Z = X @ p["W1"].T + p["b1"]
    H = np.where(Z > 0, Z, 0.1 * Z)
    F = H @ p["W2"].T
    return 0.5 * np.mean(np.sum((F - Y) ** 2, axis=1))


def grad(p, X, Y):
    """The user's hand-written backward pass (optional: without it, finite differences)."""
    Z = X @ p["W1"].T + p["b1"]
    H = np.where(Z > 0, Z, 0.1 * Z)
    dF = (H @ p["W2"].T - Y) / X.shape[0]
    dH = (dF @ p["W2"]) * np.where(Z > 0, 1.0, 0.1)
    return {"W1": dH.T @ X, "b1": dH.sum(0), "W2": dF.T @ H}


def rescale_unit0(p, s=3.0):
    q = {k: v.copy() for k, v in p.items()}
    q["W1"][0] *= s
    q["b1"][0] *= s
    q["W2"][:, 0] /= s
    return q


data = nt.batches(inputs=2, outputs=1, bound=1.0)


@settings(max_examples=30, deadline=None)
@given(nt.parameters(SHAPES, bound=1.0), data)
def test_rescaling_a_hidden_unit_is_a_symmetry(p, batch):
    X, Y = batch
    nt.assert_invariant(loss, rescale_unit0, p, X, Y)


@settings(max_examples=30, deadline=None)
@given(nt.parameters(SHAPES, bound=1.0), data)
def test_balancedness_is_conserved_by_gradient_flow(p, batch):
    X, Y = batch
    C = "sum(W1[0,:]**2) + b1[0]**2 - sum(W2[:,0]**2)"
    # finite differences of a piecewise-linear net are only meaningful away from its kinks:
    # a central difference with step ~1e-6 straddles a kink closer than that
    assume(np.min(np.abs(X @ p["W1"].T + p["b1"])) > 1e-4)
    nt.assert_conserved(loss, C, p, X, Y)               # finite-difference gradient, rtol 1e-5
    nt.assert_conserved(loss, C, p, X, Y, grad=grad)    # the user's gradient, rtol 1e-9


@settings(max_examples=15, deadline=None)
@given(nt.parameters(SHAPES, bound=1.0), data)
def test_balancedness_follows_the_derived_gd_law(p, batch):
    X, Y = batch
    C = "sum(W1[0,:]**2) + b1[0]**2 - sum(W2[:,0]**2)"
    # C_{k+1} − C_k = ½η² gᵀAg with A the Hessian of C, derived from GD's update rule
    nt.assert_law(loss, p, X, Y, optimizer="gd", lr=0.1, steps=5, grad=grad, charges=[C])



def test_the_law_fails_for_a_non_charge(noether_rng):
    p = {k: noether_rng.standard_normal(s) for k, s in SHAPES.items()}
    X, Y = noether_rng.standard_normal((5, 2)), noether_rng.standard_normal((5, 1))
    nt.assert_law(loss, p, X, Y, lr=0.1, grad=grad, charges=["sum(W1[1,:]**2) + b1[1]**2 - sum(W2[:,1]**2)"])
    with pytest.raises(nt.ClaimFailure, match="derived gd law"):
        nt.assert_law(loss, p, X, Y, lr=0.1, grad=grad, charges=["sum(W1**2)"])


def test_finite_differences_still_refute_a_false_conservation_claim(noether_rng):
    p = {k: noether_rng.standard_normal(s) for k, s in SHAPES.items()}
    X, Y = noether_rng.standard_normal((5, 2)), noether_rng.standard_normal((5, 1))
    nt.assert_conserved(loss, "sum(W1[2,:]**2) + b1[2]**2 - sum(W2[:,2]**2)", p, X, Y)
    with pytest.raises(nt.ClaimFailure, match="finite-difference"):
        nt.assert_conserved(loss, "sum(W1**2) + sum(W2**2)", p, X, Y)


def test_a_false_claim_about_the_user_model_gives_a_small_counterexample():
    def prop(p, batch):
        X, Y = batch
        nt.assert_invariant(loss, "W1 -> 2*W1; W2 -> W2/2", p, X, Y)   # forgets b1
    fail = nt.find_counterexample(prop, nt.parameters(SHAPES, bound=1.0), data, examples=200)
    assert fail is not None and "b1 = " in str(fail)
    assert np.count_nonzero(fail.example["theta"]) <= 3, str(fail)


def test_finite_difference_gradient_matches_the_users_gradient(noether_rng):
    p = {k: noether_rng.standard_normal(s) for k, s in SHAPES.items()}
    X, Y = noether_rng.standard_normal((5, 2)), noether_rng.standard_normal((5, 1))
    tgt, th = nt.target.as_target(loss, p)
    g_fd = tgt.grad(th, X, Y)
    g = nt.target.Layout.of_params(p).flatten(grad(p, X, Y))
    # central differences at h = ε^{1/3}: ~1e-10 relative; kinks are measure-zero for normal draws
    np.testing.assert_allclose(g_fd, g, rtol=1e-6, atol=1e-8)


@pytest.fixture
def noether_rng():
    """Local stand-in for the plugin fixture (the plugin is not loaded in this repo's own run)."""
    return np.random.default_rng(12345)
