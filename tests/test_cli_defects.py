"""Defects a new user hit (issue 11): each one line and the right exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from test_cli import SPEC, cli


def _spec(tmp_path, fn="relu"):
    p = tmp_path / "m.toml"
    p.write_text(SPEC.format(fn=fn))
    return str(p)


def _one_line_error(r, field):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"noether: error: {field}"), r.stderr


def test_codegen_out_below_a_file_is_one_line(tmp_path):
    spec = _spec(tmp_path)
    _one_line_error(cli("codegen", spec, "--out", os.path.join(spec, "sub")), "--out")


def test_codegen_out_in_an_impossible_place_is_one_line(tmp_path):
    _one_line_error(cli("codegen", _spec(tmp_path), "--out", "/proc/noether-cannot-be-here"), "--out")


def test_json_into_a_closed_pipe_is_not_a_traceback(tmp_path):
    # `noether derive --json | head -1`: the reader closes after one line.  Width 64 makes the JSON
    # (explicit generators and charges) far larger than a pipe buffer, so the writer does hit the pipe.
    wide = tmp_path / "wide.toml"
    wide.write_text(SPEC.format(fn="relu").replace("out = 4", "out = 64"))
    p = subprocess.Popen([sys.executable, "-m", "noether.cli", "derive", str(wide), "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait()
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert p.returncode in (0, 141)


def test_bare_z_is_accepted_by_derive(tmp_path):
    r = cli("derive", _spec(tmp_path, "z"), "--json")
    assert r.returncode == 0, r.stderr


def test_demo_rejects_zero_steps_before_any_work():
    import time
    t0 = time.perf_counter()
    r = cli("demo", "--steps", "0")
    assert r.returncode == 2 and "--steps" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""        # nothing derived or compiled first (it used to print the derivation)
    assert time.perf_counter() - t0 < 30   # generous: only interpreter start-up, no derivation


def test_laws_without_a_closed_law_answer_like_verify(tmp_path):
    r = cli("laws", _spec(tmp_path, "leaky_relu"), "--optimizer", "adamw", "--json")
    assert r.returncode == 0, r.stderr
    import json
    j = json.loads(r.stdout)
    assert j["closed"] is False and j["charge_law"] is None and "kinetic symmetry breaking" in j["reason"]
    r = cli("laws", _spec(tmp_path, "leaky_relu"), "--optimizer", "momentum", "--momentum", "0.9", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["closed"] is True


def test_an_injected_call_is_named_in_the_message():
    import pytest
    from noether.errors import SpecError
    from noether.expr import parse_expr
    with pytest.raises(SpecError, match="function '__import__' is not allowed"):
        parse_expr("__import__('os').system('ls')", ["x"], "--conserved")
    with pytest.raises(SpecError, match=r"attribute access '\.real'"):
        parse_expr("x.real(2)", ["x"], "--conserved")


def test_the_variable_list_of_a_wide_net_is_short():
    import pytest
    from noether.errors import SpecError
    from noether.expr import parse_expr
    names = [f"W1_{i}_{j}" for i in range(1024) for j in range(3)] + [f"b1_{i}" for i in range(1024)]
    with pytest.raises(SpecError) as exc:
        parse_expr("W9", names, "--map")
    msg = str(exc.value)
    assert "W1_0_0..W1_1023_2 (3072)" in msg and "b1_0..b1_1023 (1024)" in msg
    assert len(msg) < 400       # it was one 49 KB line listing every symbol


def test_sweep_refuses_a_learning_rate_that_gives_a_handful_of_steps(tmp_path):
    out = tmp_path / "s"
    r = cli("sweep", _spec(tmp_path, "leaky_relu"), "--lr", "100", "--out", str(out))
    _one_line_error(r, "--lr")
    assert not list(tmp_path.glob("s*"))      # nothing written


def test_sweep_of_a_model_without_symmetry_says_so_and_writes_nothing(tmp_path):
    r = cli("sweep", _spec(tmp_path, "softplus"), "--lr", "0.01,0.02", "--out", str(tmp_path / "s"))
    assert r.returncode == 0 and "trivial" in r.stdout
    assert not list(tmp_path.glob("s*"))


def test_verify_of_a_model_without_symmetry_is_success_in_one_line(tmp_path):
    r = cli("verify", _spec(tmp_path, "softplus"), "--steps", "20")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines() == [
        "nothing to check: the model's continuous symmetry algebra is trivial (no charges, no laws)"]


def test_verify_adam_reports_drift_as_a_measurement_not_a_passed_law(tmp_path):
    import json
    r = cli("verify", _spec(tmp_path, "leaky_relu"), "--optimizer", "adam", "--steps", "30", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["laws"] and all(c["status"] == "measured" and c["tolerance"] is None and c["ok"] is None
                             for c in j["laws"])
    assert "all laws hold" not in j["verdict"] and "no law is claimed" in j["verdict"]


def test_nesterov_on_a_net_without_rotations_reports_no_rotation_decay(tmp_path):
    import json
    r = cli("verify", _spec(tmp_path, "leaky_relu"), "--optimizer", "nesterov", "--momentum", "0.9",
            "--weight-decay", "0.01", "--steps", "30", "--json")
    assert r.returncode == 0, r.stderr
    assert "rotation_decay" not in json.loads(r.stdout)


def test_charges_not_built_are_unknown_not_zero(tmp_path):
    """A linear cross-entropy MLP 4-40-3 has more than 1500 structured family members (gl(40)
    alone has 1600), past the explicit limit, so no charges are built.  The count is unknown, not
    0 (it was printed as 0), and verify refuses rather than pass a check of nothing."""
    p = tmp_path / "ce.toml"
    p.write_text('input = 4\nloss = "cross_entropy"\n[[layer]]\ntype = "linear"\nout = 40\n'
                 '[[layer]]\ntype = "linear"\nout = 3\n')
    r = cli("derive", str(p), "--json")
    assert r.returncode == 0, r.stderr
    import json
    assert json.loads(r.stdout)["n_charges"] is None
    _one_line_error(cli("verify", str(p), "--steps", "2"), "model")
