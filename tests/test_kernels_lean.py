"""Lean generated modules (issue 16): a model's module holds the model and GD only; an optimizer
variant is printed into a module of its own when a run first asks for it, and cached by content."""

import re

import numba
import numpy as np
import pytest

from noether.derive.derivation import derive
from noether.kernels import charge_code, codegen
from noether.kernels.codegen import build_kernels, module_source
from noether.model import Model
from noether.optim import make_rule
from noether.run.chunks import loss_and_grad
from noether.run.optimizers import run_optimizer

# the README's quickstart MLP
QUICKSTART = {"input": 3, "loss": "mse", "layer": [{"type": "linear", "out": 4, "bias": True},
                                                   {"type": "activation", "fn": "Max(z, z/5)"},
                                                   {"type": "linear", "out": 2}]}
RULE_DEFS = re.compile(r"^(def (opt|lawv|step)_\w+|LAW_CLOSED_\w+ =)", re.M)


def test_quickstart_module_holds_no_optimizer_variant():
    src, layout = module_source(derive(Model.from_dict(QUICKSTART)))
    assert RULE_DEFS.findall(src) == []
    # GD is a rule like any other: its law and step live in the gd variant's module, and the loops
    # that run rules and flows are compiled once per install (noether.kernels.loops), not printed
    assert "def run_gd(" not in src and "def law_gd(" not in src and "def integrate_flow(" not in src
    assert len(src.splitlines()) <= 600           # issue 16's bound (2,183 lines with every variant)
    # every parameter read at a raw offset of the flat vector carries its name in a comment
    raw = [ln for ln in src.splitlines() if re.search(r"\b(x|theta)\[\d", ln)]
    assert raw and all(re.search(r"# .*\b(W|b)\d", ln) for ln in raw), raw


def test_a_variant_is_generated_on_demand_and_reused(tmp_path, monkeypatch):
    d = derive(Model.from_dict(QUICKSTART))
    k = build_kernels(d, tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.py")) == [k.path.name]
    mod = k.rule_module(make_rule("nesterov"))
    new = sorted(set(tmp_path.glob("*.py")) - {k.path})
    assert len(new) == 1 and "nesterov" in new[0].name
    src = new[0].read_text()
    # this variant and no other: its law and step (the runner is compiled once per install), and
    # the closure flag
    assert sorted(re.findall(r"^def (\w+)\(", src, re.M)) == ["lawv_nesterov", "step_nesterov"]
    assert re.findall(r"^(LAW_CLOSED_\w+) =", src, re.M) == ["LAW_CLOSED_nesterov"]
    assert mod.LAW_CLOSED_nesterov is True and k.rule_module(make_rule("nesterov")) is mod
    # a second process-like start reads the index instead of printing again
    monkeypatch.setattr(codegen, "rule_module_source", lambda *a: pytest.fail("printed again"))
    assert build_kernels(d, tmp_path).rule_module(make_rule("nesterov")).__file__ == str(new[0])
    # the law reads no model (the charge parts are its arguments): another model's run uses the
    # same module, printed and compiled once
    other = build_kernels(derive(Model.from_dict({"input": 2, "loss": "mse", "layer": [
        {"type": "linear", "out": 3}, {"type": "activation", "fn": "tanh"}, {"type": "linear", "out": 1}]})),
        tmp_path)
    assert other.rule_module(make_rule("nesterov")) is mod
    assert "load_generated" not in src and "_model" not in src


def test_the_runner_generates_the_variant_it_runs(tmp_path):
    """run_optimizer asks for its variant: absent before, printed by the run, and its law checked.
    Nesterov's law closes; it holds to 1e-10 (float64 rounding of the charges of a 26-parameter
    model is ~1e-16 of their scale per step, over 3 steps)."""
    m = Model.from_dict(QUICKSTART)
    k = build_kernels(derive(m), tmp_path)
    assert not list(tmp_path.glob("*_nesterov_dec_*.py"))
    rng = np.random.default_rng(5)
    X, Y, th = rng.standard_normal((8, 3)), rng.standard_normal((8, 2)), m.init(rng)
    run = run_optimizer(k, make_rule("nesterov", lr=0.01, momentum=0.9, weight_decay=0.1, decoupled=True),
                        th, X, Y, 3, parallel=False)
    assert len(list(tmp_path.glob("*_nesterov_dec_*.py"))) == 1
    assert run.completed == 3 and run.law_checked and run.charge_resid.max() <= 1e-10



def test_long_explicit_charges_are_evaluated_from_coefficients(tmp_path, monkeypatch):
    # past MAX_PRINTED_TERMS the explicit charges become coefficient arrays and one shared loop
    # (numba compiled a printed 1000-term sum for minutes): both forms give the same values and
    # parts, up to the order of a float64 sum of ~30 O(1) terms (1e-13 relative leaves margin)
    m = Model.from_dict({"input": 2, "loss": "cross_entropy", "layer": [
        {"type": "linear", "out": 3}, {"type": "activation", "fn": "leaky_relu"}, {"type": "linear", "out": 3}]})
    d = derive(m, method="structured")
    printed = build_kernels(d, tmp_path / "printed")
    monkeypatch.setattr(charge_code, "MAX_PRINTED_TERMS", 0)
    sparse = build_kernels(d, tmp_path / "sparse")
    assert "sparse_charges" in sparse.path.read_text() and "sparse_charges" not in printed.path.read_text()
    nC = len(printed.layout.names)
    assert nC == len(sparse.layout.names) > 0
    th = m.init(np.random.default_rng(4))
    for part in ("charges", "charges_quad", "charges_lin", "charges_abs"):
        a, b = np.empty(nC), np.empty(nC)
        getattr(printed.module, part)(th, a, 0)
        getattr(sparse.module, part)(th, b, 0)
        assert np.abs(a - b).max() <= 1e-13 * (np.abs(a).max() + 1), part


def test_deep_models_get_the_parallel_pass_in_source():
    """127 workspace slots (see the slow test below) and the parallel pass is printed."""
    layers = []
    for _ in range(31):
        layers += [{"type": "linear", "out": 2}, {"type": "activation", "fn": "relu"}]
    m = Model.from_dict({"input": 2, "loss": "mse", "layer": layers + [{"type": "linear", "out": 1}]})
    assert "SAMPLE_PARALLEL = True" in module_source(derive(m))[0]
    assert "SAMPLE_PARALLEL = True" in module_source(derive(Model.from_dict(QUICKSTART)))[0]


@pytest.mark.slow      # 47 s: the 63-layer pass compiled twice (serial and row-chunked)
def test_deep_models_get_the_parallel_pass(tmp_path):
    """32 linear + 31 ReLU layers: 127 workspace slots.  They were a tuple, which numba refuses past
    100 in a parallel region (deep_relu_balance.py at depth 32 did not compile, and such models
    got the serial pass only); one flat buffer has no such limit.  The row-chunked pass equals the
    serial one up to the regrouping of the batch mean (two chunks of 16 rows: a few ulps of the
    O(1) loss and gradient entries; 1e-13 relative leaves a wide margin)."""
    layers = []
    for _ in range(31):
        layers += [{"type": "linear", "out": 2}, {"type": "activation", "fn": "relu"}]
    m = Model.from_dict({"input": 2, "loss": "mse", "layer": layers + [{"type": "linear", "out": 1}]})
    d = derive(m)
    assert "SAMPLE_PARALLEL = True" in module_source(d)[0]
    k = build_kernels(d, tmp_path)
    rng = np.random.default_rng(31)
    X, Y, th = rng.standard_normal((32, 2)), rng.standard_normal((32, 1)), m.init(rng)
    L, g = loss_and_grad(k, th, X, Y)
    gp, gpar = np.empty((2, m.D)), np.empty(m.D)
    Lp = k.module.loss_grad_par(th, X, Y, gpar, k.module.make_workspace_par(16, numba.config.NUMBA_NUM_THREADS),
                                gp, np.empty(2))
    assert abs(Lp - L) <= 1e-13 * abs(L) and np.max(np.abs(gpar - g)) <= 1e-13 * np.max(np.abs(g))
