"""New layer types: numpy reference vs finite differences, numba kernels vs the reference, and
the verify harness (GF / exact GD law / Bregman, foundation tolerances) end to end."""

import os
import subprocess
import sys

import pytest

from noether.derive.derivation import derive
from noether.kernels.codegen import build_kernels
from noether.errors import SpecError
from noether.model import GLU, Conv1d, LayerNorm, Linear, Model, Radial, RMSNorm, user_layer
from noether.verify import VerifyOptions, verify
from helpers import assert_gradient_matches_fd, assert_kernel_matches_reference, layer_data

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



@pytest.mark.parametrize("name", sorted(MODELS))
def test_reference_gradient_matches_finite_differences(name):
    m = MODELS[name]()
    X, Y, th = layer_data(m, 1)
    assert_gradient_matches_fd(m, th, X, Y)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_kernels_match_reference(name):
    m = MODELS[name]()
    k = build_kernels(derive(m), CACHE)
    X, Y, th = layer_data(m, 2)
    assert_kernel_matches_reference(k, m, th, X, Y)


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


def test_activation_substitution_keeps_the_function():
    """Activation.symbolic builds Max/Min unevaluated on symbolic arguments (sympy's sign search
    on a large argument cost seconds per unit); the function is unchanged, and a numeric
    argument still gives a number."""
    import sympy as sp
    from noether.model.activation import substitute
    from noether.model.catalogue import ACTIVATIONS, z
    a = sp.Symbol("a", real=True)
    for name, e in ACTIVATIONS.items():
        u, v = substitute(e, 2 * a + 1), e.subs(z, 2 * a + 1)
        for val in (-1.3, -0.5, 0.4, 2.0):
            # both sides evaluate the same elementary operations: a few ulps of O(1) values
            assert abs(float(u.subs(a, val)) - float(v.subs(a, val))) < 1e-12, name
        w = substitute(e, sp.Float(0.7))
        assert w.is_number and abs(float(w) - float(e.subs(z, 0.7))) < 1e-15, name


@pytest.mark.parametrize("affine,eps", [(True, 1e-5), (False, 0.0)])
def test_layernorm_numpy_passes_equal_its_symbolic_definition(affine, eps):
    """The written-out numpy passes against the lambdified ``symbolic`` (SymbolicLayer's): the
    same float64 quantities summed in another order over 5 units, a few ulps of O(1) values."""
    import numpy as np
    from noether.model.symlayer import SymbolicLayer
    m = Model(3, [Linear(5), LayerNorm(affine=affine, eps=eps), Linear(2)])
    ln = m.layers[1]
    rng = np.random.default_rng(4)
    X, dY = rng.standard_normal((7, 5)), rng.standard_normal((7, 5))
    p = m.unflatten(m.init(rng))
    if affine:
        p[f"g{ln.index}"] = rng.standard_normal(5)
    gn = {k: np.zeros_like(v) for k, v in p.items()}
    gs = {k: np.zeros_like(v) for k, v in p.items()}
    assert np.abs(ln.forward(X, p) - SymbolicLayer.forward(ln, X, p)).max() < 1e-13
    assert np.abs(ln.backward(X, p, dY, gn) - SymbolicLayer.backward(ln, X, p, dY, gs)).max() < 1e-13
    for k in gn:
        assert np.abs(gn[k] - gs[k]).max() < 1e-13
