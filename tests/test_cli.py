"""The CLI end to end, as a user runs it."""

import json
import subprocess
import sys

import numpy as np
import pytest

SPEC = """
input = 3
[[layer]]
type = "linear"
out = 4
[[layer]]
type = "activation"
fn = "{fn}"
[[layer]]
type = "linear"
out = 2
"""


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "noether.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def spec(tmp_path):
    def make(fn="relu", text=None):
        p = tmp_path / f"spec_{abs(hash((fn, text)))}.toml"
        p.write_text(text if text is not None else SPEC.format(fn=fn))
        return str(p)
    return make


def test_derive_json_schema(spec):
    r = cli("derive", spec("Max(z, z/5)"), "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["parameters"][0] == "W1_0_0" and len(j["parameters"]) == 26
    assert j["algebra"] == {**j["algebra"], "dim": 4, "orbit_rank": 4}
    g = j["generators"][0]
    assert set(g) >= {"name", "gradient_field", "field"} and g["gradient_field"] is True
    assert all(k in j["parameters"] for k in g["field"])
    c = j["charges"][0]
    assert set(c) >= {"name", "expr", "latex", "generator"}
    n = j["noether_charges"][0]
    assert set(n) >= {"generator", "expr", "source"}


def test_derive_text_and_latex(spec):
    r = cli("derive", spec("z**3"), "--latex")
    assert r.returncode == 0 and "\\sum" in r.stdout or "Sum" not in r.stdout


def test_verify_json_and_trajectory(spec, tmp_path):
    traj = tmp_path / "run.npz"
    r = cli("verify", spec("relu"), "--steps", "300", "--json", "--trajectory", str(traj))
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["ok"] is True
    checks = {law["check"] for law in j["laws"]}
    assert checks == {"gf", "gd", "bregman"}
    for law in j["laws"]:
        assert set(law) >= {"charge", "check", "max_residual", "tolerance", "ok"}
    with np.load(traj) as f:
        assert f["theta"].shape == (301, 26) and f["charges"].shape == (301, 4)
        assert list(f["parameters"][:2]) == ["W1_0_0", "W1_0_1"] and float(f["lr"]) == 0.05
        # independent recheck of the GD law from the file with numpy only: C_{k+1} − C_k = η²·Q(g_k)
        # where Q is the charge's quadratic part; here we check the weaker, file-only fact that the
        # charges column is the charge formula evaluated at theta
        th = f["theta"]
        W1 = th[:, :12].reshape(-1, 4, 3)
        b1 = th[:, 12:16]
        W2 = th[:, 16:24].reshape(-1, 2, 4)
        C = (W1**2).sum(2) + b1**2 - (W2**2).sum(1)
        np.testing.assert_allclose(f["charges"], C, rtol=0, atol=1e-12 * np.abs(C).max())


@pytest.mark.parametrize("args,field", [
    (["--lr", "-1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--steps", "0"], "--steps"),
    (["--data", "/nonexistent.npz"], "--data"),
])
def test_verify_bad_options_exit_2(spec, args, field):
    r = cli("verify", spec("relu"), *args)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and field in r.stderr


@pytest.mark.parametrize("fn,field", [("nosuch", "layer[1].fn"), ("__import__('os').system('true')", "layer[1].fn"),
                                      ("log(z)", "layer[1].fn")])
def test_bad_spec_exit_2(spec, fn, field):
    r = cli("derive", spec(fn))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert field in r.stderr


def test_missing_file_exit_2():
    r = cli("derive", "/no/such/spec.toml")
    assert r.returncode == 2 and "SPEC" in r.stderr and "Traceback" not in r.stderr


def test_divergence_reports_step_and_keeps_partial_trajectory(spec, tmp_path):
    traj = tmp_path / "div.npz"
    r = cli("verify", spec("z**3"), "--lr", "5", "--steps", "500", "--trajectory", str(traj))
    assert r.returncode == 2 and "non-finite at step" in r.stderr and "Traceback" not in r.stderr
    step = int(r.stderr.split("at step ")[1].split()[0])
    with np.load(traj) as f:
        assert f["theta"].shape[0] == step + 1 and int(f["completed_steps"]) == step
        assert np.isfinite(f["theta"]).all()


def test_trajectory_not_half_written_on_bad_folder(spec, tmp_path):
    r = cli("verify", spec("relu"), "--steps", "10", "--trajectory", str(tmp_path / "nodir" / "x.npz"))
    assert r.returncode == 2 and not (tmp_path / "nodir").exists()


def test_failing_law_exits_1(spec, monkeypatch, capsys):
    import importlib

    from noether.cli import main
    v = importlib.import_module("noether.verify")   # the module (noether.verify is also the function)
    monkeypatch.setattr(v, "TOL_GD", 0.0)   # a zero tolerance cannot be met by float64 arithmetic
    assert main(["verify", spec("identity"), "--steps", "50"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_codegen_writes_readable_module(spec, tmp_path):
    r = cli("codegen", spec("relu"), "--out", str(tmp_path / "gen"))
    assert r.returncode == 0, r.stderr
    files = list((tmp_path / "gen").glob("noether_*.py"))
    assert len(files) == 1 and "def loss_grad" in files[0].read_text()


def test_demo_runs():
    r = cli("demo", "--steps", "200")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("all laws hold") == 2


def test_version_prints_the_package_version():
    import noether
    r = cli("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"noether {noether.__version__}"
