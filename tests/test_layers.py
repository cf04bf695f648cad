"""New layer types: numpy reference vs finite differences, numba kernels vs the reference, and
the verify harness (GF / exact GD law / Bregman, foundation tolerances) end to end."""

import os
import subprocess
import sys

import numpy as np
import pytest

from noether.derive.derivation import derive
from noether.kernels.codegen import build_kernels
from noether.errors import SpecError
from noether.model import GLU, Conv1d, LayerNorm, Linear, Model, Radial, RMSNorm, user_layer
from noether.verify import VerifyOptions, verify

CACHE = os.environ.get("NOETHER_CACHE", "/tmp/nc_tests")

MODELS = {
    "layernorm_affine_ce": lambda: Model(2, [Linear(3), LayerNorm(affine=True), Linear(2)], loss="cross_entropy"),
    "rmsnorm_eps0": lambda: Model(2, [Linear(3, bias=False), RMSNorm(eps=0.0), Linear(2)]),
    "radial_inv_r2": lambda: Model(2, [Linear(3, bias=False), Radial("1/r**2"), Linear(2, bias=False)]),
    "glu_sigmoid": lambda: Model(2, [GLU(2), Linear(1)]),
    "conv1d": lambda: Model(4, [Conv1d(2, 2), Linear(1)]),
    "user_gain": lambda: Model(2, [user_layer("gain", {"a": (2,), "M": (2, 2)}, 2, _gain), Linear(1)]),
}


def _gain(x, p):
    return [p["a"][i] * (p["M"][i, 0] * x[0] + p["M"][i, 1] * x[1]) for i in range(2)]


def test_user_layer_declaration_mismatch_is_one_line_error():
    with pytest.raises(SpecError, match="gain.out"):
        Model(2, [user_layer("gain", {"a": (2,), "M": (2, 2)}, 3, _gain), Linear(1)])
    with pytest.raises(SpecError, match="gain.forward"):
        Model(2, [user_layer("gain", {"a": (1,), "M": (2, 2)}, 2, _gain), Linear(1)])


def _data(m, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((5, m.input))
    Y = np.eye(m.output)[rng.integers(0, m.output, 5)] if m.loss_name == "cross_entropy" \
        else rng.standard_normal((5, m.output))
    return X, Y, m.init(rng)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_reference_gradient_matches_finite_differences(name):
    m = MODELS[name]()
    X, Y, th = _data(m, 1)
    _, g = m.loss_and_grad(th, X, Y)
    h = 1e-6
    fd = np.array([(m.loss_and_grad(th + h * e, X, Y)[0] - m.loss_and_grad(th - h * e, X, Y)[0]) / (2 * h)
                   for e in np.eye(m.D)])
    # central differences: truncation ~h²·|L'''| ~ 1e-12, rounding ~eps·|L|/h ~ 1e-10
    assert np.allclose(g, fd, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_kernels_match_reference(name):
    m = MODELS[name]()
    k = build_kernels(derive(m), CACHE)
    X, Y, th = _data(m, 2)
    L, g = m.loss_and_grad(th, X, Y)
    grad = np.empty(m.D)
    Lk = k.module.loss_grad(th, X, Y, grad, k.module.make_workspace(X.shape[0]))
    # same float64 operations up to reassociation: agreement to ~1e-15 relative; 1e-11 is safe
    assert abs(Lk - L) <= 1e-11 * max(1.0, abs(L))
    assert np.allclose(grad, g, rtol=1e-10, atol=1e-12)


def test_verify_layernorm_cross_entropy():
    m = MODELS["layernorm_affine_ce"]()
    rep = verify(m, VerifyOptions(steps=200, cache=CACHE), progress=lambda *_: None)
    assert rep.checks and all(c.ok for c in rep.checks)
    assert {c.check for c in rep.checks} == {"gd", "gf", "bregman"}


def test_cli_bad_radial_exits_2(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('input = 2\n[[layer]]\ntype = "linear"\nout = 2\n[[layer]]\ntype = "radial"\nf = "z + r"\n')
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([sys.executable, "-m", "noether.cli", "derive", str(spec)], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "layer[1].f" in p.stderr
