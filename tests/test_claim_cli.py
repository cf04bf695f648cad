"""``noether claim``: exit 0 for true claims, 1 with a shrunk counterexample for false ones, 2 for
bad input (one line, no traceback).  Claims beyond the corpus of the issue are included."""

import pytest

from noether.cli import main

RELU = """
name = "relu"
input = 3
[[layer]]
type = "linear"
out = 4
[[layer]]
type = "activation"
fn = "relu"
[[layer]]
type = "linear"
out = 2
"""

CUBE = RELU.replace('fn = "relu"', 'fn = "z**3"').replace('name = "relu"', 'name = "cube"')
LINEAR = RELU.replace('fn = "relu"', 'fn = "identity"').replace('name = "relu"', 'name = "linear"')
SIGMOID = RELU.replace('fn = "relu"', 'fn = "sigmoid"').replace('name = "relu"', 'name = "sigmoid"')


@pytest.fixture
def spec(tmp_path):
    def write(text, name="m.toml"):
        p = tmp_path / name
        p.write_text(text)
        return str(p)
    return write


def claim(capsys, *argv):
    code = main(["claim", *argv, "--examples", "25"])
    out = capsys.readouterr()
    return code, out.out, out.err


UNIT = "sum(W1[1,:]**2) + b1[1]**2 - sum(W2[:,1]**2)"


@pytest.mark.parametrize("text,args,expect", [
    # the examples
    (RELU, ["--map", "W1 -> 2*W1; b1 -> 2*b1; W2 -> W2/2"], 0),
    (RELU, ["--map", "W1 -> 2*W1"], 1),
    (RELU, ["--conserved", UNIT], 0),
    (RELU, ["--conserved", UNIT, "--optimizer", "gd"], 1),
    (RELU, ["--conserved", UNIT, "--optimizer", "gd", "--law", "derived"], 0),
    (RELU, ["--conserved", UNIT, "--optimizer", "gd", "--law",
            "eta**2*(sum(g_W1[1,:]**2) + g_b1[1]**2 - sum(g_W2[:,1]**2))"], 0),
    (RELU, ["--conserved", UNIT, "--optimizer", "gd", "--law", "eta**2*sum(g_W1[1,:]**2)"], 1),
    # claims not in the issue
    (RELU, ["--map", "W1[0,:] -> exp(t)*W1[0,:]; b1[0] -> exp(t)*b1[0]; W2[:,0] -> exp(-t)*W2[:,0]",
            "--t-range=-2,2"], 0),
    (RELU, ["--map", "W1 -> -W1; b1 -> -b1; W2 -> -W2"], 1),                  # relu is not odd
    (RELU, ["--map", "W1 -> W1[[3,2,1,0],:]; b1 -> b1[[3,2,1,0]]; W2 -> W2[:,[3,2,1,0]]"], 0),
    (CUBE, ["--map", "W1[2,:] -> exp(t)*W1[2,:]; b1[2] -> exp(t)*b1[2]; W2[:,2] -> exp(-3*t)*W2[:,2]"], 0),
    (CUBE, ["--map", "W1[2,:] -> exp(t)*W1[2,:]; b1[2] -> exp(t)*b1[2]; W2[:,2] -> exp(-t)*W2[:,2]"], 1),
    # degree-α homogeneous σ: X = (w_in, b, −α w_out), so C = |w_in|² + b² − α|w_out|² ...
    (CUBE, ["--conserved", "sum(W1[0,:]**2) + b1[0]**2 - 3*sum(W2[:,0]**2)"], 0),
    # ... and neither the ReLU form nor α|w_in|² − |w_out|² (∝ |w_in|² − |w_out|²/3) is conserved
    (CUBE, ["--conserved", "sum(W1[0,:]**2) + b1[0]**2 - sum(W2[:,0]**2)"], 1),
    (CUBE, ["--conserved", "3*sum(W1[0,:]**2) + 3*b1[0]**2 - sum(W2[:,0]**2)"], 1),
    (LINEAR, ["--map", "W1[0,:] -> W1[0,:] + t*W1[1,:]; b1[0] -> b1[0] + t*b1[1]; "
              "W2[:,1] -> W2[:,1] - t*W2[:,0]"], 0),                                 # a shear in GL(h)
    (LINEAR, ["--conserved", "sum(W1[0,:]*W1[1,:]) + b1[0]*b1[1] - sum(W2[:,0]*W2[:,1])"], 0),
    (SIGMOID, ["--map", "W1[0,:] -> -W1[0,:]; b1[0] -> -b1[0]; W2[:,0] -> -W2[:,0]; b2 -> b2 + W2[:,0]"], 0),
    (SIGMOID, ["--map", "W1[0,:] -> -W1[0,:]; b1[0] -> -b1[0]; W2[:,0] -> -W2[:,0]"], 1),
])
def test_claims_separate_true_from_false(capsys, spec, text, args, expect):
    code, out, err = claim(capsys, spec(text), *args)
    assert code == expect, out + err
    if expect == 1:
        assert "FALSE: shrunk counterexample" in out and "violation" in out and "W1 = " in out
    else:
        assert "holds: no counterexample in 25 examples" in out


@pytest.mark.skipif("momentum" not in __import__("noether.optim", fromlist=["OPTIMIZERS"]).OPTIMIZERS,
                    reason="no momentum rule")
def test_momentum_claims(capsys, spec):
    p = spec(RELU)
    assert claim(capsys, p, "--conserved", UNIT, "--optimizer", "momentum", "--hyper", "momentum=0.9",
                 "--law", "derived")[0] == 0
    assert claim(capsys, p, "--conserved", UNIT, "--optimizer", "momentum", "--hyper", "momentum=0.9")[0] == 1


@pytest.mark.parametrize("args,field", [
    (["--map", "W1 -> __import__('os').system('touch PWNED')"], "--map"),
    (["--map", "W1 -> open('PWNED', 'w')"], "--map"),
    (["--map", "W1 -> W1.T"], "--map"),
    (["--map", "W7 -> 2*W7"], "--map"),
    (["--map", "W1[9,:] -> 0"], "--map"),
    (["--conserved", "W1**2"], "--conserved"),
    (["--conserved", "open('x')"], "--conserved"),
    (["--conserved", UNIT, "--law", "derived"], "--law"),
    (["--conserved", UNIT, "--optimizer", "sgdx"], "--optimizer"),
    (["--conserved", "W1_0_0**3", "--optimizer", "gd", "--law", "derived"], "--law"),
    (["--conserved", UNIT, "--optimizer", "gd", "--hyper", "momentum"], "--hyper"),
    (["--map", "W1 -> 2*W1", "--optimizer", "gd"], "--optimizer"),
    (["--map", "W1 -> 2*W1", "--t-range", "1,-1"], "--t-range"),
])
def test_bad_input_exit_2_one_line(capsys, spec, args, field, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["claim", spec(RELU), *args])
    out = capsys.readouterr()
    assert code == 2 and out.out == ""
    assert out.err.startswith("noether: error: " + field) and out.err.count("\n") == 1, out.err
    assert not (tmp_path / "PWNED").exists()     # nothing was executed


def test_missing_spec_and_missing_claim(capsys, tmp_path):
    assert main(["claim", str(tmp_path / "nope.toml"), "--map", "W1 -> W1"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        main(["claim", str(tmp_path / "nope.toml")])
    assert e.value.code == 2
