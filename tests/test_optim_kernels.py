"""Issue 4: every optimizer through its generated kernel; exact laws at every step over 10⁴ steps,
rechecked independently with numpy from a saved trajectory.

All kernels here run on the catalogue MLP of tests/test_optim_catalogue.py (relu, leaky_relu, exp,
abs, cube, identity without biases), so each optimizer variant is compiled by numba once per session
(the generated module is shared through its content hash) and every law is checked on every kind of
catalogue charge at once."""

import numpy as np
import pytest

from noether.cli import main
from noether.derive.derivation import derive
from noether.derive.laws import derive_law
from noether.kernels.codegen import build_kernels
from noether.model import Model
from noether.optim import make_rule
from noether.run.data import initial_parameters, random_data
from noether.run.optimizers import run_optimizer
from noether.run.recheck import eval_law

# Each law is a per-step identity: float64 rounding of C, the update and the atoms is ~1e-15 of
# the term scale (sum of absolute values), so 1e-10 leaves five orders of margin.
TOL = 1e-10
SPEC = "tests/data/catalogue_mlp.toml"


@pytest.fixture(scope="module")
def relu():
    """The catalogue MLP (its first layer is the ReLU MLP's)."""
    m = Model.load(SPEC)
    d = derive(m)
    return m, d, build_kernels(d)


CASES = [("gd", dict(weight_decay=0.01)), ("sgd", dict(weight_decay=0.01)),
         ("momentum", dict(dampening=0.3, weight_decay=0.01)),
         ("momentum", dict(weight_decay=0.01, decoupled=True)), ("nesterov", dict(weight_decay=0.01))]


@pytest.mark.parametrize("name,kw", CASES)
def test_exact_law_relu_10k_steps(relu, name, kw):
    m, d, k = relu
    X, Y = random_data(m, 32, 0)
    # lr 0.01 and half-size weights keep exp and cube finite over 10⁴ steps (lr 0.05 diverges)
    run = run_optimizer(k, make_rule(name, lr=0.01, **kw), 0.5 * initial_parameters(m, 0), X, Y, 10_000,
                        batch=8 if name == "sgd" else None, seed=1)
    assert run.completed == 10_000 and run.law_checked
    assert run.charge_resid.max() <= TOL
    # the law is not vacuous: the charges moved far more than the tolerance
    assert np.abs(run.charges[-1] - run.charges[0]).max() > 1e-3


def test_adam_reports_drift(relu):
    m, d, k = relu
    X, Y = random_data(m, 32, 0)
    run = run_optimizer(k, make_rule("adam", lr=0.01), 0.5 * initial_parameters(m, 0), X, Y, 500)
    assert not run.law_checked and np.abs(run.charges[-1] - run.charges[0]).max() > 1e-3


def test_recheck_from_saved_trajectory(tmp_path, relu):
    """Plain numpy on the .npz: gradients from the model's numpy reference on the saved batch rows,
    the update rule, and the derived law with atoms from the saved charge matrices."""
    m, d, _ = relu
    path = tmp_path / "t.npz"
    assert main(["verify", SPEC, "--optimizer", "sgd", "--batch", "8", "--lr", "0.01",
                 "--weight-decay", "0.01", "--steps", "300", "--trajectory", str(path)]) == 0
    f = np.load(path)
    assert {"state_velocity"} .isdisjoint(f.files) and "batch_index" in f.files
    th, X, Y, bi = f["theta"], f["X"], f["Y"], f["batch_index"]
    lr, wd = float(f["lr"]), float(f["weight_decay"])
    assert bi.shape == (300, 8)
    for k in range(0, 300, 37):
        _, gk = m.loss_and_grad(th[k], X[bi[k]], Y[bi[k]])
        # 1e-12: the kernel and numpy sum the same terms in different orders (rounding ~1e-15)
        assert np.allclose(gk, f["grad"][k], rtol=1e-12, atol=1e-14)
        assert np.allclose(th[k + 1], th[k] - lr * (gk + wd * th[k]), rtol=1e-12, atol=1e-14)
    law = derive_law(make_rule("sgd", lr=lr, weight_decay=wd), general=True)
    A, c = f["charge_A"], f["charge_c"]
    C = 0.5 * np.einsum("kd,qde,ke->kq", th, A, th) + th @ c.T
    assert np.allclose(C, f["charges"], rtol=1e-12, atol=1e-12)
    n = len(f["grad"])
    first = np.zeros(n); first[0] = 1
    for q in range(len(A)):
        val, scale = eval_law(law.rhs, {"theta": th[:n], "g": f["grad"]}, A[q], c[q],
                              {"lr": lr, "weight_decay": wd, "momentum": 0.0, "dampening": 0.0}, first)
        resid = np.abs(C[1:, q] - C[:-1, q] - val) / (scale + np.abs(C[1:, q]) + np.abs(C[:-1, q]))
        assert resid.max() <= TOL


def test_momentum_trajectory_has_state(tmp_path):
    path = tmp_path / "m.npz"
    assert main(["verify", SPEC, "--optimizer", "momentum", "--lr", "0.01", "--dampening", "0.2",
                 "--steps", "200", "--trajectory", str(path), "--json"]) == 0
    f = np.load(path)
    v, th, g = f["state_velocity"], f["theta"], f["grad"]
    b, tau, lr = float(f["momentum"]), float(f["dampening"]), float(f["lr"])
    assert not bool(f["nesterov"]) and not bool(f["decoupled"])
    # PyTorch convention: v_1 = g_0, then v_{k+1} = β v_k + (1 − τ) g_k, θ_{k+1} = θ_k − η v_{k+1}
    assert np.allclose(v[1], g[0], rtol=0, atol=1e-15)
    assert np.allclose(v[2:], b * v[1:-1] + (1 - tau) * g[1:], rtol=1e-13, atol=1e-15)
    assert np.allclose(th[1:], th[:-1] - lr * v[1:], rtol=1e-13, atol=1e-15)


def test_divergence_reported_with_step(capsys):
    assert main(["verify", SPEC, "--optimizer", "momentum", "--lr", "5", "--steps", "500"]) == 2
    err = capsys.readouterr().err
    assert "diverged" in err and "at step" in err
