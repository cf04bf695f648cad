"""Teleportation and balancing: exact group elements, monotone objectives, transported momentum."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import flow, mlp
from test_cli import SPEC
import noether
from noether import build_kernels, derive
from noether.actions import group_action
from noether.cli import main
from noether.optim import make_rule
from noether.run.optimizers import run_optimizer
from noether.teleport import Evaluator, teleport

EPS = np.finfo(float).eps
#: loss rounding: a float64 mean of N forward passes through a depth-2 net; each term carries a
#: relative rounding of a few dozen ulps (dot products of ≤ 8 terms, squares, a mean over ≤ 16
#: samples), and the moved parameters carry a few ulps from expm: 1e3 ulps is a safe bound
LOSS_RTOL = 1e3 * EPS

# (activation, bias of layer 1): scalings only; GL(h) blocks (linear, no bias); GL + translations
MODELS = [("leaky_relu", True), ("identity", False), ("identity", True), ("relu", False)]
_CACHE = {}


def built(i):
    if i not in _CACHE:
        act, bias = MODELS[i]
        m = mlp(act, (3, 4, 2), (bias, True))
        d = derive(m)
        _CACHE[i] = (m, d, build_kernels(d), group_action(d))
    return _CACHE[i]


def draw(m, seed, n=12):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, m.input)), rng.standard_normal((n, m.output)), m.init(rng)


@settings(max_examples=25, deadline=None)
@given(i=st.integers(0, len(MODELS) - 1), seed=st.integers(0, 2**32 - 1), scale=st.floats(0.05, 1.5))
def test_loss_invariant_under_computed_elements(i, seed, scale):
    m, d, k, ga = built(i)
    X, Y, th = draw(m, seed)
    t = np.random.default_rng([seed, 1]).standard_normal(ga.dim) * scale / np.sqrt(ga.dim)
    e = ga.element(t)
    ev = Evaluator(k, X, Y)
    L0, g0 = ev.loss_grad(th)
    L1, g1 = ev.loss_grad(e.apply(th))
    assert abs(L1 - L0) <= LOSS_RTOL * L0
    # the gradient transforms by the inverse transpose (same rounding, relative to |g| |M^{-T}|)
    gt = e.covector(g0)
    assert np.abs(g1 - gt).max() <= 1e4 * EPS * (np.abs(gt).max() + np.abs(g0).max())
    # and the inverse element is a true inverse: back to θ up to expm's rounding
    back = ga.element(-t) if not ga.diagonal or not ga.blocks else None
    if back is not None:
        assert np.abs(back.apply(e.apply(th)) - th).max() <= 1e3 * EPS * np.abs(th).max() * np.exp(2 * np.abs(t).sum())


def test_single_generator_matches_independent_flow():
    """GroupAction's element for one generator equals the augmented expm of tests/helpers.flow."""
    for i in range(len(MODELS)):
        m, d, k, ga = built(i)
        th = draw(m, i)[2]
        # the action's own basis (scalings alone) spans exactly the derivation's algebra
        from noether.derive.span import Span
        span = Span(m.D)
        assert all(span.add(g) for g in ga.generators) and len(ga.generators) == d.dim
        assert not any(span.add(g) for g in d.algebra.generators)
        for q, gen in enumerate(ga.generators):
            t = np.zeros(ga.dim)
            t[q] = 0.7
            ref = flow(gen, th, 0.7, m.D)
            assert np.abs(ga.element(t).apply(th) - ref).max() <= 1e3 * EPS * np.abs(ref).max()


@settings(max_examples=12, deadline=None)
@given(i=st.integers(0, len(MODELS) - 1), seed=st.integers(0, 2**32 - 1),
       obj=st.sampled_from(["grad_norm_max", "grad_norm_min", "balance"]))
def test_objectives_move_the_right_way(i, seed, obj):
    m, d, k, ga = built(i)
    X, Y, th = draw(m, seed)
    r = teleport(k, ga, th, X, Y, obj, steps=5)
    if obj == "grad_norm_max":
        assert r.objective_after >= r.objective_before
    else:   # the kernel-measured objective; 1e3 ulps of the recomputed gradient / norm
        assert r.objective_after <= r.objective_before * (1 + 1e3 * EPS)
    assert abs(r.rel_loss_change) <= LOSS_RTOL
    assert r.ok


def test_balance_zeroes_scaling_charges_in_one_sweep_for_one_hidden_layer():
    """Two-layer leaky-ReLU net: the unit scalings act on disjoint supports, so the closed form
    zeroes every charge |w_in|² + b² − |w_out|² in one sweep (to the rounding of the norms)."""
    m, d, k, ga = built(0)
    X, Y, th = draw(m, 3)
    r = teleport(k, ga, th, X, Y, "balance", steps=1)
    scale = max(abs(v) for v in r.charges_before.values())
    assert max(abs(v) for v in r.charges_after.values()) <= 1e2 * EPS * max(scale, np.dot(th, th))


def _balance_reference(a_rows, theta, sweeps):
    """The coordinate descent written out one generator at a time (Newton along each), independent
    of balance_pass's colour classes and closed forms."""
    s = np.zeros_like(theta)
    for _ in range(sweeps):
        for a in a_rows:
            t = 0.0
            for _ in range(60):
                e = theta ** 2 * np.exp(2 * (s + a * t))
                d1, d2 = a @ e, 2 * (a * a) @ e
                if d2 == 0:
                    break
                t -= d1 / d2
            s = s + a * t
    return s


@pytest.mark.parametrize("case", ["deep_mlp", "mixed_magnitudes"])
def test_balance_pass_equals_one_generator_at_a_time(case):
    """The colour-class sweep (disjoint supports stepped together, closed form for one |a| per
    generator, Newton otherwise) gives the sequential sweep's minimiser, where every scaling
    charge Σ a_i θ_i² e^{2 s_i} vanishes."""
    from noether.actions import GroupAction
    from noether.derive.generator import Generator
    from noether.teleport import balance_pass
    rng = np.random.default_rng(5)
    if case == "deep_mlp":
        m = noether.Model(3, [noether.Linear(4), noether.Activation("leaky_relu"), noether.Linear(3),
                              noether.Activation("relu"), noether.Linear(4), noether.Activation("relu"),
                              noether.Linear(2)])
        ga = group_action(derive(m))
        th = m.init(rng)
        for rows, A, *_ in ga.diag_sweep:       # each class: pairwise disjoint supports
            assert np.all(np.abs(A).sum(axis=0) == np.abs(A).max(axis=0))
        assert sum(len(c[0]) for c in ga.diag_sweep) == len(ga.a) and len(ga.diag_sweep) < len(ga.a)
    else:      # overlapping generators with unequal magnitudes (the Newton branch)
        gens = []
        for n, coefs in enumerate([{0: 1, 1: -1}, {0: 2, 2: -1, 3: 1}, {1: 1, 3: -3}]):
            g = Generator(f"S{n}", "test")
            for r, v in coefs.items():
                g.add(r, r, v)
            gens.append(g)
        ga, th = GroupAction(gens, 4), rng.standard_normal(4)
    s, taken = balance_pass(ga, th, sweeps=500, rtol=1e-13)
    assert taken < 500
    w = th ** 2 * np.exp(2 * s)
    # at the minimum every charge is zero: |a·w| at the rounding of Σ|a|w (exp and sums, ~10 ulps)
    assert np.all(np.abs(ga.a @ w) <= 1e-12 * (np.abs(ga.a) @ w))
    ref = _balance_reference(list(ga.a), th, 400)
    w_ref = th ** 2 * np.exp(2 * ref)
    # the minimiser of a strictly convex function of the point w: the same w to solver tolerance
    assert np.allclose(w, w_ref, rtol=1e-9, atol=0)


def test_sharpness_min_and_hvp_against_dense_hessian():
    m, d, k, ga = built(0)
    X, Y, th = draw(m, 5)
    ev = Evaluator(k, X, Y)
    # dense Hessian by central differences of the model's numpy reference gradient (independent
    # of the kernels), step 1e-5: truncation ~1e-10 x |∇³L|, rounding ~1e-11
    h, D = 1e-5, m.D
    H = np.empty((D, D))
    for j in range(D):
        e = np.zeros(D)
        e[j] = h
        H[:, j] = (m.loss_and_grad(th + e, X, Y)[1] - m.loss_and_grad(th - e, X, Y)[1]) / (2 * h)
    v = np.random.default_rng(0).standard_normal(D)
    assert np.abs(ev.hvp(th, v) - H @ v).max() <= 1e-7 * np.abs(H).max() * np.abs(v).max()
    r = teleport(k, ga, th, X, Y, "sharpness_min", steps=3)
    assert r.objective_after <= r.objective_before and r.ok


def test_heavy_ball_rotated_run_equals_teleported_run():
    """An orthogonal element R (a rotation of a linear net's hidden units): heavy ball from (Rθ, R^{-T}v)
    equals R applied to the run from (θ, v), step for step."""
    m, d, k, _ = built(1)
    rot = group_action(d, "rotations")
    assert rot.dim > 0
    X, Y, th = draw(m, 11)
    R = rot.element(np.random.default_rng(2).standard_normal(rot.dim))
    # orthogonal: M^{-T} = M, to expm's rounding
    assert np.abs(R.covector(th) - R.linear(th)).max() <= 1e3 * EPS * np.abs(th).max()
    rule = make_rule("momentum", lr=0.05, momentum=0.9)
    v0 = np.random.default_rng(3).standard_normal((1, m.D)) * 0.1
    a = run_optimizer(k, rule, th, X, Y, 30, state0=v0)
    b = run_optimizer(k, rule, R.apply(th), X, Y, 30, state0=R.covector(v0[0])[None])
    for step in range(31):
        # per-step rounding of a few ulps of |θ|, accumulated linearly over the steps
        tol = 1e2 * EPS * (step + 1) * np.abs(a.theta[step]).max()
        assert np.abs(b.theta[step] - R.apply(a.theta[step])).max() <= tol, step
        assert np.abs(b.state[step, 0] - R.covector(a.state[step, 0])).max() <= tol * 10, step


# -- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "net.toml"
    p.write_text(SPEC.format(fn="leaky_relu"))
    return str(p)


def test_teleport_cli_json_and_roundtrip(spec, tmp_path, capsys):
    out = tmp_path / "p.npz"
    assert main(["teleport", spec, "--objective", "balance", "--out", str(out), "--json"]) == 0
    j = json.loads(capsys.readouterr().out)
    for key in ("loss_before", "loss_after", "rel_loss_change", "objective_before", "objective_after",
                "charges_before", "charges_after", "ok"):
        assert key in j
    assert j["ok"] and j["objective_after"] <= j["objective_before"]
    assert main(["teleport", spec, "--params", str(out), "--objective", "grad_norm_min", "--json"]) == 0
    j2 = json.loads(capsys.readouterr().out)
    assert j2["loss_before"] == pytest.approx(j["loss_after"], rel=1e-15)


def test_train_cli_json(spec, capsys, tmp_path):
    out = tmp_path / "t.npz"
    assert main(["train", spec, "--optimizer", "momentum", "--momentum", "0.9", "--steps", "40",
                 "--teleport-at", "0,10", "--balance-every", "15", "--target-loss", "1e-9",
                 "--out", str(out), "--json"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert {"steps_run", "final_loss", "steps_to_target", "seconds", "teleports"} <= set(j)
    assert j["steps_to_target"] is None and j["steps_run"] == 40
    assert [t["step"] for t in j["teleports"]] == [0, 10, 15, 30]
    assert [t["kind"] for t in j["teleports"]] == ["teleport", "teleport", "balance", "balance"]
    for t in j["teleports"]:
        assert {"step", "loss_before", "loss_after", "objective_before", "objective_after", "charge_jump"} <= set(t)
    with np.load(out) as f:
        assert f["theta"].shape == (26,) and len(f["loss"]) == 40


def test_balancing_starts_at_step_0():
    """--balance-every K balances before the first step, as --teleport-every does: a badly
    balanced start can diverge within K steps (depth 16 at lr 0.05 diverged at step 3)."""
    from noether import intervention_steps
    assert intervention_steps(25, balance_every=10) == {0: "balance", 10: "balance", 20: "balance"}
    assert intervention_steps(25, teleport_at=[0], balance_every=10)[0] == "teleport"


@pytest.mark.parametrize("args,field", [
    (["--objective", "steepest"], "--objective"),
    (["--action", "nonlinearish"], "--action"),
])
def test_bad_choices(spec, tmp_path, capsys, args, field):
    out = tmp_path / "o.npz"
    assert main(["teleport", spec, *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0] and not out.exists()


def test_bad_params_and_data(spec, tmp_path, capsys):
    from noether.model import Model
    names = list(Model.load(spec).parameters)
    bad = tmp_path / "bad.npz"
    np.savez(bad, parameters=np.array(["W1_0_0", "Wx"] + names[2:]), theta=np.zeros(len(names)))
    out = tmp_path / "o.npz"
    assert main(["teleport", spec, "--params", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "parameter 1 is 'Wx'" in err and not out.exists()
    th = np.ones(len(names))
    th[3] = np.nan
    np.savez(bad, parameters=np.array(names), theta=th)
    assert main(["teleport", spec, "--params", str(bad)]) == 2
    assert "non-finite" in capsys.readouterr().err
    data = tmp_path / "d.npz"
    np.savez(data, X=np.zeros((5, 4)), Y=np.zeros((5, 2)))
    assert main(["train", spec, "--data", str(data), "--out", str(out)]) == 2
    assert "--data" in capsys.readouterr().err and not out.exists()


def test_trivial_algebra_leaves_parameters(tmp_path, capsys):
    p = tmp_path / "lin.toml"
    p.write_text('input = 3\n[[layer]]\ntype = "linear"\nout = 2\n')
    out = tmp_path / "o.npz"
    assert main(["teleport", str(p), "--out", str(out)]) == 0
    assert "trivial algebra" in capsys.readouterr().out
    from noether.model import Model
    from noether.run.data import initial_parameters
    with np.load(out) as f:
        assert np.array_equal(f["theta"], initial_parameters(Model.load(str(p)), 0))


def test_params_accepts_a_trajectory_file(spec, tmp_path):
    """--params with a trajectory (theta steps+1 × D, completed_steps) takes the last completed row."""
    from noether.model import Model
    from noether.run.params import load_params
    m = Model.load(spec)
    rows = np.arange(4 * m.D, dtype=float).reshape(4, m.D)
    p = tmp_path / "traj.npz"
    np.savez(p, parameters=np.array(m.parameters), theta=rows, completed_steps=2)
    assert np.array_equal(load_params(m, str(p)), rows[2])
    np.savez(p, parameters=np.array(m.parameters[:-1]), theta=rows[:, :-1])
    with pytest.raises(noether.SpecError, match="parameters, the spec has"):
        load_params(m, str(p))
