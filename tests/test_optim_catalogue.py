"""Issue 4: every optimizer's exact laws on the catalogue models, not only the demo MLP.

One MLP threads the activation catalogue (relu, leaky_relu, exp with its bias-translation charge,
abs, cube, identity without biases: tests/data/catalogue_mlp.toml), so each optimizer kernel is
compiled once; the new layer types (rmsnorm, radial, cross-entropy loss) go through the general
derivation route in a second small model.  The 10⁴-step checks live in
derivations/finite_lr_hyperbolas.py; here the laws are checked at every step of shorter runs.
"""

import numpy as np
import pytest

from noether.derive.derivation import derive
from noether.derive.laws import derive_state_law
from noether.kernels.codegen import build_kernels
from noether.model import Linear, Model, Radial, RMSNorm
from noether.optim import make_rule
from noether.run.data import initial_parameters, random_data
from noether.run.optimizers import run_optimizer
from noether.run.recheck import generator_sparse, state_law_residuals

CATALOGUE = "tests/data/catalogue_mlp.toml"
# Each law is a per-step identity; float64 rounding of C, the update and the atoms is ~1e-15 of the
# term scale (sum of absolute values), so 1e-10 leaves five orders of margin.
TOL = 1e-10
STEPS = 3000


@pytest.fixture(scope="module")
def cat():
    m = Model.load(CATALOGUE)
    d = derive(m)
    return m, d, build_kernels(d)


def _start(m, seed):
    # small initial weights keep exp and cube in range over the whole run (the law is exact anyway)
    X, Y = random_data(m, 16, seed)
    return 0.5 * initial_parameters(m, seed), X, Y


def test_catalogue_charges_are_derived(cat):
    """The catalogue model yields the literature charge kinds, from the derivation (not a table)."""
    m, d, k = cat
    exprs = {c.name: c.expr for c in d.charges}
    assert len(k.layout.names) == len(exprs) == 13
    syms = {str(s): s for s in m.symbols}
    # exp layer (L3): a mixed charge, linear in its biases (translation), quadratic in the outgoing weights
    mixed = [e for n, e in exprs.items() if e.has(syms["b3_0"]) and e.diff(syms["b3_0"]).is_number]
    assert mixed and all(e.diff(syms["b3_0"]) != 0 for e in mixed)
    # cube (L5): degree-3 homogeneity weights the outgoing column by 3 relative to the incoming row
    c5 = exprs["C.L5.unit0[0]"]
    assert c5.coeff(syms["W5_0_0"] ** 2) * 3 == -c5.coeff(syms["W6_0_0"] ** 2)
    # identity without biases: gl(2) gives an off-diagonal (pair) charge
    assert any(".pair" in n for n in exprs)


CASES = [("gd", dict(weight_decay=0.01), None), ("sgd", dict(weight_decay=0.01), 4),
         ("momentum", dict(dampening=0.3, weight_decay=0.01), None),
         ("nesterov", dict(weight_decay=0.01), None)]


@pytest.mark.parametrize("name,kw,batch", CASES)
def test_exact_laws_on_catalogue(cat, name, kw, batch):
    m, d, k = cat
    th0, X, Y = _start(m, 3)
    rule = make_rule(name, lr=0.01, **kw)
    run = run_optimizer(k, rule, th0, X, Y, STEPS, batch=batch, seed=5)
    assert run.completed == STEPS and run.law_checked
    assert run.charge_resid.max() <= TOL
    # not vacuous: every charge moved by far more than the tolerance (weight decay breaks them all)
    moved = np.abs(run.charges[-1] - run.charges[0]) / (np.abs(run.charges).max(axis=0) + 1e-300)
    assert moved.min() > 1e-6
    if rule.state:
        # the discrete Noether momentum P_k = X(θ_k)·v_k of every generator, rechecked in numpy
        res = state_law_residuals(derive_state_law(rule, general=True), rule, run,
                                  generator_sparse(k.generators, m.D))
        assert len(res) == len(d.algebra.generators) and res.max() <= TOL


def test_adam_drift_on_catalogue(cat):
    """Adam: no closed law (kinetic symmetry breaking); its drift is measured and is not small."""
    m, d, k = cat
    th0, X, Y = _start(m, 3)
    run = run_optimizer(k, make_rule("adam", lr=0.01), th0, X, Y, 500)
    assert run.completed == 500 and not run.law_checked
    scale = np.abs(run.charges).max(axis=0)
    assert (np.abs(run.charges[-1] - run.charges[0]) / scale).max() > 1e-2


@pytest.fixture(scope="module")
def layers():
    """rmsnorm (scale invariance of the weights into it), radial 1/r² (so(3) and a scaling) and the
    cross-entropy loss (translation of the classifier's columns): the general derivation route."""
    m = Model(2, [Linear(2, bias=False), RMSNorm(eps=0.0), Linear(3, bias=False), Radial("1/r**2"),
                  Linear(2, bias=False)], loss="cross_entropy")
    d = derive(m)
    return m, d, build_kernels(d)


# GD only: the other rules' laws are checked on the catalogue MLP above, and each extra rule on this
# model would cost one more numba compilation of its kernel.
@pytest.mark.parametrize("name,kw", [("gd", dict(weight_decay=0.01))])
def test_exact_laws_on_new_layers(layers, name, kw):
    m, d, k = layers
    rng = np.random.default_rng(11)
    X = rng.standard_normal((16, 2))
    Y = np.eye(2)[rng.integers(0, 2, 16)]       # one-hot labels
    assert len(k.layout.names) >= 3
    run = run_optimizer(k, make_rule(name, lr=0.02, **kw), initial_parameters(m, 4), X, Y, STEPS)
    assert run.completed == STEPS and run.law_checked
    assert run.charge_resid.max() <= TOL
    assert np.abs(run.charges[-1] - run.charges[0]).max() > 1e-6
