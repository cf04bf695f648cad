"""The README's ``noether.testing`` example, copied into a fresh test file and run under pytest.

The text below is exactly what the README shows; the test writes it to a temporary folder, runs
pytest there in a subprocess with the plugin loaded (as the ``pytest11`` entry point does for an
installed noether), and checks that it passes; then that a false variant fails with a shrunk
counterexample.
"""

import os
import subprocess
import sys
from pathlib import Path

README_EXAMPLE = '''
import numpy as np
from hypothesis import given, settings
import noether.testing as nt
from noether.model import Model

SPEC = {"input": 3, "layer": [{"type": "linear", "out": 4}, {"type": "activation", "fn": "relu"},
                              {"type": "linear", "out": 2}]}
model = Model.from_dict(SPEC)

@given(theta=nt.parameters(model), data=nt.batches(model), g=nt.symmetries(model))
def test_derived_symmetries_leave_the_loss_unchanged(theta, data, g):
    nt.assert_invariant(model, g, theta, *data)      # g: exp(tX) of the derived algebra, or a permutation

@given(theta=nt.parameters(model), data=nt.batches(model))
def test_balancedness_is_conserved_by_gradient_flow(theta, data):
    nt.assert_conserved(model, "sum(W1[0,:]**2) + b1[0]**2 - sum(W2[:,0]**2)", theta, *data)

@given(theta=nt.parameters(model), data=nt.batches(model))
def test_gd_follows_the_derived_law(theta, data):
    nt.assert_law(model, theta, *data, optimizer="gd", lr=0.1, steps=10)

# your own numpy model: loss(params: dict, X, Y)
def my_loss(p, X, Y):
    H = np.maximum(X @ p["W1"].T, 0.0)
    return 0.5 * np.mean(np.sum((H @ p["W2"].T - Y) ** 2, axis=1))

SHAPES = {"W1": (4, 3), "W2": (1, 4)}

@settings(max_examples=50)
@given(p=nt.parameters(SHAPES), data=nt.batches(inputs=3, outputs=1))
def test_my_model_rescaling(p, data):
    nt.assert_invariant(my_loss, "W1[0,:] -> 2*W1[0,:]; W2[:,0] -> W2[:,0]/2", p, *data)
'''

FALSE_EXAMPLE = '''
from hypothesis import given
import noether.testing as nt
from noether.model import Model

model = Model.from_dict({"input": 2, "layer": [{"type": "linear", "out": 2},
                         {"type": "activation", "fn": "tanh"}, {"type": "linear", "out": 1}]})

@given(theta=nt.parameters(model), data=nt.batches(model))
def test_tanh_rescale(theta, data):
    nt.assert_invariant(model, "W1[0,:] -> 2*W1[0,:]; b1[0] -> 2*b1[0]; W2[:,0] -> W2[:,0]/2", theta, *data)
'''


def test_readme_example_passes_and_a_false_claim_fails_under_pytest(tmp_path):
    (tmp_path / "test_user_claims.py").write_text(README_EXAMPLE)
    (tmp_path / "test_user_false_claim.py").write_text(FALSE_EXAMPLE)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "NOETHER_CACHE": str(tmp_path / "cache")}
    env.pop("CI", None)
    # installed (pip install -e .), the pytest11 entry point loads the plugin by itself, as it
    # will for a user; from a bare checkout it has to be named with -p
    from importlib.metadata import entry_points
    installed = any(ep.name == "noether" for ep in entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "noether.testing.plugin"]
    # the user's profile ('noether', not the derandomised CI one) with an explicit seed, so a run
    # of this suite is reproducible
    r = subprocess.run([sys.executable, "-m", "pytest", *plugin, "--hypothesis-seed=0",
                        "-p", "no:cacheprovider", "-rA", "."],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = r.stdout
    assert r.returncode == 1 and "1 failed, 4 passed" in out, out + r.stderr
    assert "FAILED test_user_false_claim.py::test_tanh_rescale" in out
    assert "claim: loss invariant under W1[0,:] -> 2*W1[0,:]" in out
    assert "counterexample:" in out and "violation" in out
    assert "noether: hypothesis profile 'noether'" in out
