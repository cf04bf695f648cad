"""Kunin et al.'s modified flow under heavy ball: the prediction must track the run and its error
must fall with η (issue 11: with the terminal velocity as θ̇(0) it went 0.85, 2.4, 6.3)."""

import json

import numpy as np

from noether.sweep import SMALL_ERROR, error_orders
from test_cli import cli

DEEPLIN = """
input = 2
[[layer]]
type = "linear"
out = 3
[[layer]]
type = "linear"
out = 3
[[layer]]
type = "linear"
out = 2
"""


def test_momentum_modified_flow_error_is_small_and_falls_with_eta(tmp_path):
    spec = tmp_path / "deeplin.toml"
    spec.write_text(DEEPLIN)
    r = cli("sweep", str(spec), "--optimizer", "momentum", "--momentum", "0.9", "--lr", "0.005,0.01,0.02",
            "--out", str(tmp_path / "s"), "--no-plots")
    assert r.returncode == 0, r.stderr
    orders = json.loads((tmp_path / "s.json").read_text())["error_orders"]
    o = orders["error_scale"]
    errs = o["mean_error"]
    # the second-order model is an O(η) approximation: small at these η, and smaller at smaller η
    assert max(errs) < SMALL_ERROR, errs
    assert errs[0] < errs[1] < errs[2], errs
    assert o["order"] is not None and o["order"] > 0.8


def test_an_order_is_refused_when_errors_are_large_or_do_not_fall():
    rows = [{"lr": lr, "seed": 0, "error_scale": e} for lr, e in [(0.005, 1.05), (0.01, 2.98), (0.02, 7.47)]]
    o = error_orders(rows)["error_scale"]
    assert o["order"] is None and "not small" in o["refused"]
    rows = [{"lr": lr, "seed": 0, "error_scale": e} for lr, e in [(0.005, 3e-3), (0.01, 2e-3), (0.02, 4e-3)]]
    o = error_orders(rows)["error_scale"]
    assert o["order"] is None and "do not fall" in o["refused"]
    rows = [{"lr": lr, "seed": 0, "error_scale": 0.3 * lr ** 2} for lr in (0.005, 0.01, 0.02)]
    assert np.isclose(error_orders(rows)["error_scale"]["order"], 2.0)
