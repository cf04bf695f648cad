"""Strategies of ``noether.testing``: bounds respected, group elements are true flows."""

import numpy as np
from hypothesis import find, given, settings
from hypothesis import strategies as st

import noether.testing as nt
from noether.model import Activation, Linear, Model

FAST = settings(max_examples=25, deadline=None)


@FAST
@given(nt.model_specs(inputs=(1, 2), outputs=1, depth=(1, 3), widths=(2, 3),
                      activations=["relu", "Max(z, z/5)"], bias=False))
def test_model_specs_within_bounds(spec):
    m = Model.from_dict(spec)
    lin = [l for l in m.layers if isinstance(l, Linear)]
    assert 2 <= len(lin) <= 4 and 1 <= m.input <= 2 and m.output == 1
    assert all(not l.bias for l in lin) and all(2 <= l.out <= 3 for l in lin[:-1])
    assert {a.name for a in m.layers if isinstance(a, Activation)} <= {"relu", "Max(z, z/5)"}


@FAST
@given(st.data())
def test_parameters_and_batches_shapes(data):
    m = data.draw(nt.models())
    th = data.draw(nt.parameters(m, bound=0.5))
    X, Y = data.draw(nt.batches(m, samples=(2, 3)))
    assert th.shape == (m.D,) and np.all(np.abs(th) <= 0.5)
    assert X.shape[1] == m.input and Y.shape == (X.shape[0], m.output) and 2 <= X.shape[0] <= 3
    p = data.draw(nt.parameters({"W": (2, 3), "b": np.zeros(2)}))
    assert p["W"].shape == (2, 3) and p["b"].shape == (2,)


def _ode_flow(X, theta, t, n=4000):
    """Reference: integrate θ' = X(θ) with classical RK4 (error ~ (t/n)^4, < 1e-13 here)."""
    h = t / n
    th = theta.copy()
    for _ in range(n):
        k1 = X.evaluate(th)
        k2 = X.evaluate(th + h / 2 * k1)
        k3 = X.evaluate(th + h / 2 * k2)
        k4 = X.evaluate(th + h * k3)
        th = th + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return th


@settings(max_examples=8, deadline=None)
@given(st.data())
def test_group_element_is_the_flow_of_its_generator(data):
    m = data.draw(nt.models(activations=["identity", "relu"], widths=(1, 3), depth=1))
    X = data.draw(nt.algebra_elements(m))
    t = data.draw(st.floats(-1, 1))
    th = data.draw(nt.parameters(m, bound=1.0))
    g = X.exp(t)
    # expm vs RK4: both ~1e-13 accurate for |t| <= 1 and |A| <= O(few); 1e-9 leaves a wide margin
    np.testing.assert_allclose(g(th), _ode_flow(X, th, t), rtol=1e-9, atol=1e-9)
    # one-parameter group: exp(sX) exp(tX) = exp((s+t)X)
    np.testing.assert_allclose(X.exp(0.3)(g(th)), X.exp(t + 0.3)(th), rtol=1e-12, atol=1e-12)


def test_discrete_strategies_follow_the_derivation():
    tanh = Model(2, [Linear(3), Activation("tanh"), Linear(1)])
    relu = Model(2, [Linear(3), Activation("relu"), Linear(1)])
    # tanh is odd: flips exist; relu is not: sign_flips is empty (hypothesis's nothing())
    assert find(nt.sign_flips(tanh), lambda f: True).claim.startswith("flip")
    assert nt.sign_flips(relu).is_empty
    assert find(nt.permutations(relu), lambda p: True).claim.startswith("permute")


@settings(max_examples=10, deadline=None)
@given(st.data())
def test_catalogue_layers_in_model_specs_and_their_derived_symmetries(data):
    spec = data.draw(nt.model_specs(inputs=2, outputs=1, depth=1, widths=3, activations=["identity"],
                                    extra_layers=[{"type": "radial", "f": "1/(1+r)"}], bias=False))
    m = Model.from_dict(spec)
    th, (X, Y) = data.draw(nt.parameters(m)), data.draw(nt.batches(m))
    nt.assert_invariant(m, data.draw(nt.symmetries(m)), th, X, Y)
