"""Derived discrete symmetries of every layer type, alignment (weight / activation matching,
modulo the rescaling group), the barrier, and the asymmetric layers of Lim et al. (2024)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from helpers import assert_gradient_matches_fd, assert_kernel_matches_reference, layer_data
from noether import Model, build_kernels, derive
from noether.align import align, interpolate
from noether.align.align import permutation_groups
from noether.align.canonical import diagonal_group
from noether.cli import main
from noether.derive.discrete import apply_group_element, derive_discrete


def _L(typ, **kw):
    return "[[layer]]\n" + f"type = {json.dumps(typ)}\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in kw.items())


RES = ("[[layer]]\ntype = \"residual\"\n[[layer.layer]]\ntype = \"linear\"\nout = 3\n"
       "[[layer.layer]]\ntype = \"activation\"\nfn = \"relu\"\n[[layer.layer]]\ntype = \"linear\"\nout = 4\n")
SPECS = {
    "mlp_tanh": "input = 3\n" + _L("linear", out=4) + _L("activation", fn="tanh") + _L("linear", out=2),
    "mlp_relu2": "input = 3\n" + _L("linear", out=4) + _L("activation", fn="relu") + _L("linear", out=3)
    + _L("activation", fn="relu") + _L("linear", out=2),
    "mlp_abs": "input = 3\n" + _L("linear", out=3) + _L("activation", fn="abs") + _L("linear", out=2),
    "conv": "input = 6\n" + _L("conv1d", channels=3, kernel=2) + _L("activation", fn="relu") + _L("linear", out=2),
    "attention": "input = 2\nseq = 2\n" + _L("attention", heads=2, d_k=2, d_v=2, out=2) + _L("linear", out=2),
    "residual": "input = 2\n" + _L("linear", out=4) + RES + _L("linear", out=2),
    "glu": "input = 2\n" + _L("glu", out=3, fn="tanh") + _L("linear", out=2),
    "batchnorm": "input = 3\n" + _L("linear", out=3) + _L("batchnorm") + _L("activation", fn="relu") + _L("linear", out=2),
}
MODELS = {k: Model.from_toml(v, k) for k, v in SPECS.items()}
GROUPS = {k: derive_discrete(m) for k, m in MODELS.items()}


def _rel(a, b):
    return float(np.abs(a - b).max() / max(float(np.abs(b).max()), 1e-300))


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(SPECS)), seed=st.integers(0, 2**32 - 1))
def test_every_derived_discrete_symmetry_leaves_outputs_unchanged(name, seed):
    """A random element of every derived group (not only the generators the derivation checked),
    at fresh random parameters and inputs."""
    m, rng = MODELS[name], np.random.default_rng(seed)
    theta = m.init(rng, scale=2.0)
    X = rng.standard_normal((5, m.input))
    g_theta = theta
    for g in GROUPS[name]:
        g_theta = apply_group_element(m, g_theta, g, rng)
    # permuting and negating change only the order and signs of float64 sums: relative output
    # change ≲ 1e-15 for these O(1) values; 1e-11 leaves a wide margin yet catches any wrong map
    assert _rel(m.forward(g_theta, X), m.forward(theta, X)) <= 1e-11


def test_groups_found_per_layer_type():
    kinds = {k: sorted((g.kind, g.axis.name, g.per.name if g.per else None) for g in gs) for k, gs in GROUPS.items()}
    assert ("flip", "layer[0].out", None) in kinds["mlp_tanh"]              # odd σ
    assert ("flip", "layer[0].out", None) not in kinds["mlp_relu2"]         # relu: no flip
    assert [g.blocks for g in GROUPS["mlp_abs"] if g.kind == "flip"] == [["W1", "b1"]]   # even σ: rows only
    assert ("permutation", "layer[0].channels", None) in kinds["conv"]
    perms = {(a, p) for k, a, p in kinds["attention"] if k == "permutation"}
    assert ("WQ1[axis 0]", None) in perms                                   # heads
    assert ("layer[0].d_k", "WQ1[axis 0]") in perms                         # d_k within each head
    assert ("layer[0].d_v", "WQ1[axis 0]") in perms
    res = {a for k, a, _ in kinds["residual"] if k == "permutation"}
    assert res == {"layer[0].out", "layer[1].layer[0].out"}                 # the stream and the hidden units
    assert [g for g in GROUPS["batchnorm"] if g.kind == "flip"][0].blocks == ["b1"]   # bias before BN


@pytest.mark.parametrize("spec", [
    "input = 4\n" + _L("linear", out=3, fixed=2, fixed_seed=5) + _L("activation", fn="relu") + _L("linear", out=2, fixed=1),
    "input = 3\n" + _L("linear", out=3) + _L("figlu", seed=1) + _L("linear", out=2),
])
def test_asymmetric_layers_have_no_symmetry(spec):
    m = Model.from_toml(spec)
    X, Y, th = layer_data(m, 0)
    assert_gradient_matches_fd(m, th, X, Y)
    d = derive(m)
    assert d.dim == 0 and d.discrete == []
    assert_kernel_matches_reference(build_kernels(d), m, th, X, Y)


def test_asymmetric_constants_are_seeded_and_not_parameters():
    a = Model.from_toml("input = 5\n" + _L("linear", out=4, fixed=2, fixed_seed=3) + _L("linear", out=1))
    b = Model.from_toml("input = 5\n" + _L("linear", out=4, fixed=2, fixed_seed=3) + _L("linear", out=1))
    c = Model.from_toml("input = 5\n" + _L("linear", out=4, fixed=2, fixed_seed=4) + _L("linear", out=1))
    assert a.D == 4 * 3 + 4 + 4 + 1                       # 2 of 5 entries per row are constants
    assert np.array_equal(a.layers[0].F, b.layers[0].F) and not np.array_equal(a.layers[0].F, c.layers[0].F)
    assert np.all(a.layers[0].F * 1024 == np.round(a.layers[0].F * 1024))    # exact dyadic constants


def _planted(m, seed, rescale):
    rng = np.random.default_rng(seed)
    A = m.init(rng)
    B = A
    if rescale:
        grp = diagonal_group(m, derive(m))
        B = B * np.exp(grp.D.T @ rng.uniform(-1, 1, grp.k))
    _, groups = permutation_groups(m)
    for g in groups:
        B = apply_group_element(m, B, g, rng)
    return A, B


@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from(["mlp_relu2", "conv", "attention", "residual"]), seed=st.integers(0, 2**32 - 1))
def test_planted_permutation_is_recovered_exactly(name, seed):
    m = MODELS[name]
    A, B = _planted(m, seed, False)
    r = align(m, A, B)
    assert np.array_equal(r.theta, A)          # permutations copy values: exact equality
    assert r.info["max_output_change"] <= 1e-12


ATT3 = Model.from_toml("input = 2\nseq = 2\n" + _L("attention", heads=3, d_k=3, d_v=2, out=2) + _L("linear", out=2))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
@example(seed=60954)     # found by this test: the first sweep matched the heads through W_O while the
#                          output features after them were still unmatched, and descent stalled
def test_planted_heads_with_their_dk_dv_coordinates_recovered_in_one_run(seed):
    """Heads and the d_k / d_v coordinates within each head (derived per-head groups), planted
    together: the head step matches each head pair with its coordinates optimally matched, so one
    run (no restarts) recovers them; one axis at a time it can stall (a head cannot move while its
    coordinates keep their old labels)."""
    rng = np.random.default_rng(seed)
    A = ATT3.init(rng)
    B = A
    for g in permutation_groups(ATT3)[1]:
        B = apply_group_element(ATT3, B, g, rng)
    r = align(ATT3, A, B, restarts=1)
    assert np.array_equal(r.theta, A)          # permutations copy values: exact equality


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(["weight", "activation"]))
def test_planted_permutation_and_rescaling_recovered_modulo_group(seed, method):
    m = MODELS["mlp_relu2"]
    A, B = _planted(m, seed, True)
    X = np.random.default_rng(seed).standard_normal((40, m.input))
    r = align(m, A, B, X, m.forward(A, X), method=method, modulo="group")
    # both canonical points are Newton minima of a strictly convex function, converged to a
    # gradient ~1e-15·Φ: they agree to ~1e-14 relative; 1e-9 leaves room for conditioning
    assert _rel(r.theta, r.theta_a) <= 1e-9
    assert r.info["barrier_after"] <= 1e-9 * max(1.0, r.info["barrier_before"])
    bare = align(m, A, B, modulo="permutation")
    assert _rel(bare.theta, A) > 1e-3          # without the group the rescaled copy is not matched


def test_barrier_is_excess_over_the_chord():
    m = MODELS["mlp_relu2"]
    rng = np.random.default_rng(3)
    A, B = m.init(rng), m.init(rng)
    X, Y = rng.standard_normal((30, m.input)), rng.standard_normal((30, m.output))
    p = interpolate(m, A, B, X, Y, points=5)
    direct = [m.loss.value(m.forward((1 - a) * A + a * B, X), Y) - ((1 - a) * p.loss[0] + a * p.loss[-1])
              for a in np.linspace(0, 1, 5)]
    assert p.barrier == pytest.approx(max(direct), abs=1e-15)
    assert p.excess[0] == 0 and p.excess[-1] == 0
    assert interpolate(m, A, A, X, Y, 3).barrier == 0


def test_cli_align_lmc_and_bad_input(tmp_path, capsys):
    m = MODELS["mlp_relu2"]
    spec = tmp_path / "m.toml"
    spec.write_text(SPECS["mlp_relu2"])
    A, B = _planted(m, 7, False)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", theta=A, parameters=np.array(m.parameters))
    np.savez(tmp_path / "b.npz", theta=B)
    X = rng.standard_normal((20, m.input))
    np.savez(tmp_path / "d.npz", X=X, Y=m.forward(A, X))
    out = tmp_path / "bal.npz"
    assert main(["align", str(spec), str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--data",
                 str(tmp_path / "d.npz"), "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    for key in ("permutations", "barrier_before", "barrier_after", "max_output_change", "seconds"):
        assert key in res
    assert np.array_equal(np.load(out)["theta"], A)
    assert main(["lmc", str(spec), str(tmp_path / "a.npz"), str(out), "--data", str(tmp_path / "d.npz"),
                 "--points", "4", "--json"]) == 0
    lm = json.loads(capsys.readouterr().out)
    # A and aligned B are the same network fitting Y = f_A(X) exactly: along the path the outputs
    # differ from Y by rounding (~1e-16 of O(1) values), so the MSE and the barrier are ~1e-32
    assert len(lm["alphas"]) == 4 and abs(lm["barrier"]) <= 1e-28
    # a parameter file of another model, data of the wrong shape: one line, exit 2, nothing written
    other = MODELS["mlp_tanh"]
    np.savez(tmp_path / "o.npz", theta=other.init(rng), parameters=np.array(other.parameters))
    np.savez(tmp_path / "bad.npz", X=X[:, :1], Y=X)
    bad_out = tmp_path / "never.npz"
    for args in (["align", str(spec), str(tmp_path / "a.npz"), str(tmp_path / "o.npz"), "--out", str(bad_out)],
                 ["align", str(spec), str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--data",
                  str(tmp_path / "bad.npz"), "--out", str(bad_out)],
                 ["lmc", str(spec), str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--data", str(tmp_path / "bad.npz")]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("noether: error:")
        assert not bad_out.exists()
