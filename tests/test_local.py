"""Issue 13: pieces of σ, regions, local charges (checked by finite differences of the data loss),
local laws along runs until their break step, the nonlinear action of Zhao et al. Thm 4.1."""

import json

import numpy as np
import pytest
import scipy.linalg as sl
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

import noether
from noether.actions import nonlinear_action, nonlinear_teleport
from noether.local import local_symmetries
from noether.local_laws import check_local_laws
from noether.model.catalogue import z
from noether.model.pieces import pieces
from noether.model.regions import still_in
from noether.optim import make_rule
from noether.run.optimizers import run_optimizer


@settings(deadline=None, max_examples=25)
@given(a=st.fractions(-3, 3).filter(lambda a: a != 1), c=st.fractions(-2, 2), d=st.fractions(0, 3))
def test_pieces_reproduce_sigma(a, c, d):
    # σ built from Max, Min, Abs, Heaviside and Piecewise with random breakpoints: on every piece
    # σ equals the piece's expression at sampled points (exact rationals, so equality is exact)
    a, c, d = sp.Rational(a.numerator, a.denominator), sp.Rational(c.numerator, c.denominator), sp.Rational(d.numerator, d.denominator)
    sig = sp.Max(z - c, a * (z - c)) + sp.Min(z, c + d) + sp.Abs(z + d) \
        + sp.Heaviside(z - 2) * z + sp.Piecewise((z ** 2, z < -1), (0, True))
    pcs = pieces(sig)
    assert pcs[0].lo == -sp.oo and pcs[-1].hi == sp.oo
    for p in pcs:
        lo = p.lo if p.lo != -sp.oo else p.hi - 5
        hi = p.hi if p.hi != sp.oo else p.lo + 5
        for t in (sp.Rational(1, 7), sp.Rational(1, 2), sp.Rational(6, 7)):
            x = lo + t * (hi - lo)
            assert sp.simplify(sig.subs(z, x) - p.expr.subs(z, x)) == 0
    for p, q in zip(pcs[:-1], pcs[1:]):
        assert p.hi == q.lo and sp.simplify(p.expr - q.expr) != 0      # merged when equal


def _planted(seed, width, dead, bypassed, fn="relu", n=24, inp=2, out=2):
    """A random net with units planted dead (bias -40) and bypassed (bias +40) on bounded data."""
    rng = np.random.default_rng(seed)
    m = noether.Model(inp, [noether.Linear(width), noether.Activation(fn), noether.Linear(out)])
    th = m.init(rng)
    p = m.unflatten(th)
    p["b1"][list(dead)] = -40.0
    p["b1"][list(bypassed)] = 40.0
    X = rng.uniform(-1, 1, (n, inp))
    Y = rng.standard_normal((n, out))
    # the free units get their bias at the data's median pre-activation: mixed for sure
    for u in set(range(width)) - set(dead) - set(bypassed):
        p["b1"][u] = -np.median(X @ p["W1"][u])
    return m, th, X, Y


def _fd_check(m, th, X, Y, charge):
    """d/dt L(θ + t∇C) at t = 0 by central differences, against |∇L||∇C|.  Central FD with
    h = 1e-5 has truncation ~h²|L'''| ~ 1e-10 and rounding ~ε|L|/h ~ 1e-11 relative."""
    gc = charge.A @ th + charge.c
    gc = gc / np.linalg.norm(gc)
    h = 1e-5
    lp = m.loss.value(m.forward(th + h * gc, X), Y)
    lm = m.loss.value(m.forward(th - h * gc, X), Y)
    _, g = m.loss_and_grad(th, X, Y)
    return abs(lp - lm) / (2 * h) / (np.linalg.norm(g) + 1e-300)


@settings(deadline=None, max_examples=3)
@given(seed=st.integers(0, 2 ** 16))
@example(seed=1285)
def test_planted_dead_and_bypassed_charges(seed):
    m, th, X, Y = _planted(seed, width=4, dead=[0], bypassed=[1, 2])
    res = local_symmetries(m, th, X, seed=0, count=False)
    regions = {u.unit: u.region for u in res.units}
    assert regions == {0: "dead", 1: "bypassed", 2: "bypassed", 3: "mixed"}
    # dead unit: W1[0,:], b1[0], W2[:,0] each conserved (2 + 1 + 2 linear charges)
    # (any basis of that span: the derivation may return e.g. W1_0_0 + W1_0_1 beside W1_0_0)
    lin = np.array([c.c for c in res.charges if c.A.max() == 0 and c.A.min() == 0])
    want = np.zeros((5, m.D))
    for r, name in enumerate(["W1_0_0", "W1_0_1", "b1_0", "W2_0_0", "W2_1_0"]):
        want[r, m.index(name)] = 1.0
    # exact small-integer vectors: ranks are decided far from rounding
    assert np.linalg.matrix_rank(lin) == 5 and np.linalg.matrix_rank(np.vstack([lin, want])) == 5
    # 2 bypassed units with biases: GL(2) beyond the 2 rescalings, k(k-1)/2 = 1 more charge
    quad = [c for c in res.charges if np.abs(c.A).max() > 0]
    assert len(quad) == 1 and {(r.layer, r.unit) for r in quad[0].regions} == {(1, 1), (1, 2)}
    for c in res.charges:
        assert _fd_check(m, th, X, Y, c) < 1e-7, c.name
    # the canonical basis: the dead unit's linear charges are the coordinates themselves
    lin_names = sorted(str(c.expr) for c in res.charges if c.A.max() == 0 and c.A.min() == 0)
    assert lin_names == sorted(["W1_0_0", "W1_0_1", "b1_0", "W2_0_0", "W2_1_0"])
    # every local generator is tangent to the data loss's level set at θ: X(θ)·∇L(θ) = 0 up to the
    # rounding of a D-term float64 dot product, ~D·ε·|X||∇L| (D = 18 here; 1e-12 leaves margin)
    _, g = m.loss_and_grad(th, X, Y)
    assert res.generators
    for gen in res.generators:
        x = gen.evaluate(th)
        assert abs(x @ g) <= 1e-12 * (np.linalg.norm(x) * np.linalg.norm(g) + 1e-300), gen.name
    # the test can fail: the same planted net with unit 0 revived breaks the dead-unit charges.
    # Revived as the bypassed units are (bias +40: active on every sample); a bias of 0 left it
    # active on few samples for some seeds (seed 1285: 3.3e-4 < 1e-3, found by this test)
    th2 = th.copy()
    m.unflatten(th2)["b1"][0] = 40.0
    assert max(_fd_check(m, th2, X, Y, c) for c in res.charges if c.A.max() == 0 and c.A.min() == 0) > 1e-3


def test_leaky_piece_is_not_dead():
    # Max(z, z/5) on the negative side is z/5: a pinned unit there is piece 0, not dead, and adds
    # no translation charges (its output still depends on its weights)
    m, th, X, Y = _planted(1, width=3, dead=[0], bypassed=[], fn="Max(z, z/5)")
    res = local_symmetries(m, th, X, seed=0, count=False)
    assert res.units[0].region == "0"
    assert all(np.abs(c.A).max() > 0 for c in res.charges)
    for c in res.charges:
        assert _fd_check(m, th, X, Y, c) < 1e-7


@pytest.fixture(scope="module")
def kcache(tmp_path_factory):
    """One kernel cache for the two run tests (same model shape: compiled once)."""
    return str(tmp_path_factory.mktemp("kernels"))


def test_local_laws_hold_until_break(kcache):
    # unit 0 dead (it stays dead: its gradient is exactly 0); units 1, 2 bypassed with margin ~1,
    # and targets far below the output with W2[:, 1:3] > 0 drive b1[1], b1[2] down across the kink
    m, th, X, Y = _planted(3, width=4, dead=[0], bypassed=[1, 2])
    p = m.unflatten(th)
    p["b1"][1:3] = np.abs(p["W1"][1:3]).sum(axis=1) + 1.0
    p["W2"][:, 1:3] = 1.0
    Y = Y - 10.0
    res = local_symmetries(m, th, X, seed=0, count=False)
    kern = noether.build_kernels(noether.derive(m), kcache)
    run = run_optimizer(kern, make_rule("gd", lr=0.05), th, X, Y, 200, record=True, parallel=False)
    checks = check_local_laws(res, make_rule("gd", lr=0.05), [run], X)
    breaks = {c["break_step"] is None for c in checks}
    assert breaks == {True, False}              # the dead unit's laws hold throughout; GL(2) breaks
    for c in checks:
        assert c["max_residual"] <= 1e-10, c
        ch = next(q for q in res.charges if q.name == c["charge"])
        inside = [still_in(m, ch.regions, t, X).all() for t in run.theta]
        if c["break_step"] is None:
            assert all(inside) and c["checked_steps"] == 200
        else:
            assert all(inside[:c["break_step"]]) and not inside[c["break_step"]]
            assert c["checked_steps"] == c["break_step"] > 0


def test_nonlinear_action_batch_invariant_heldout_changes():
    rng = np.random.default_rng(5)
    m = noether.Model(3, [noether.Linear(6), noether.Activation("tanh"), noether.Linear(2)])
    th = m.init(rng)
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    Xh, Yh = rng.standard_normal((40, 3)), rng.standard_normal((40, 2))
    g = sl.expm(0.5 * rng.standard_normal((6, 6)))
    r = nonlinear_teleport(m, th, X, Y, g, X_held=Xh, Y_held=Yh)
    # batch outputs agree to the rounding of the lstsq solve (cond(σ(gVx)) · ε · |outputs|)
    F0, F1 = m.forward(th, X), m.forward(r["theta"], X)
    S2 = np.tanh((X @ (g @ m.unflatten(th)["W1"]).T) + g @ m.unflatten(th)["b1"])
    assert np.abs(F1 - F0).max() <= 100 * np.linalg.cond(S2) * np.finfo(float).eps * (np.abs(F0).max() + 1)
    assert abs(r["heldout_loss_after"] - r["heldout_loss_before"]) > 1e-6
    with pytest.raises(noether.SpecError, match="batch <= width"):
        nonlinear_action(m, th, rng.standard_normal((7, 3)), g)
    relu = noether.Model(3, [noether.Linear(6), noether.Activation("relu"), noether.Linear(2)])
    with pytest.raises(noether.SpecError, match="zero on the batch"):
        nonlinear_action(relu, relu.init(rng), X, g)


def test_cli_bad_params_one_line(tmp_path, capsys):
    spec = tmp_path / "n.toml"
    spec.write_text('input = 2\n[[layer]]\ntype = "linear"\nout = 3\n[[layer]]\ntype = "activation"\nfn = "relu"\n'
                    '[[layer]]\ntype = "linear"\nout = 1\n')
    np.savez(tmp_path / "P.npz", theta=np.zeros(5))
    np.savez(tmp_path / "D.npz", X=np.zeros((4, 2)), Y=np.zeros((4, 1)))
    from noether.cli import main
    rc = main(["local", str(spec), "--params", str(tmp_path / "P.npz"), "--data", str(tmp_path / "D.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().count("\n") == 0 and "--params" in err


def test_cli_verify_local(tmp_path, capsys, kcache):
    # orchestrator path: verify --local from --params with a planted dead unit, region plot written
    spec = tmp_path / "n.toml"
    spec.write_text('input = 2\n[[layer]]\ntype = "linear"\nout = 4\n[[layer]]\ntype = "activation"\nfn = "relu"\n'
                    '[[layer]]\ntype = "linear"\nout = 2\n')
    m, th, X, Y = _planted(4, width=4, dead=[0], bypassed=[])
    np.savez(tmp_path / "P.npz", theta=th)
    np.savez(tmp_path / "D.npz", X=X, Y=Y)
    from noether.cli import main
    common = [str(spec), "--params", str(tmp_path / "P.npz"), "--data", str(tmp_path / "D.npz")]
    assert main(["verify", *common, "--steps", "50"]) == 2          # --params without --local
    assert "--params" in capsys.readouterr().err
    rc = main(["verify", *common, "--local", "--steps", "50", "--cache", kcache,
               "--region-plot", str(tmp_path / "r.png")])
    out = capsys.readouterr().out
    assert rc == 0 and "region held for the whole run" in out and "all laws hold" in out
    assert (tmp_path / "r.png").stat().st_size > 0


def test_saturated_hardtanh_charges_fd():
    # hardtanh Min(Max(z,-1),1): units pinned on the constant pieces (not dead: σ = ±1) free their
    # rows and trade their outgoing column against the output bias; every charge checked by FD
    m, th, X, Y = _planted(2, width=3, dead=[0], bypassed=[1], fn="Min(Max(z, -1), 1)")
    res = local_symmetries(m, th, X, seed=0, count=False)
    assert [u.region for u in res.units] == ["0", "2", "mixed"]
    assert res.charges
    for c in res.charges:
        assert _fd_check(m, th, X, Y, c) < 1e-7, c.name


@settings(deadline=None, max_examples=20)
@given(seed=st.integers(0, 2 ** 16))
def test_canonical_quotient_does_not_depend_on_the_basis(seed):
    # the local charges shown are a function of span(local + global) modulo span(global) only:
    # any rational invertible mixing of the local basis, plus multiples of the global charges,
    # gives the same expressions (exact rationals: equality is exact)
    from noether.local import canonical_quotient
    rng = np.random.default_rng(seed)
    s = sp.symbols("a0:5")
    glob = [s[0] ** 2 - s[1] ** 2, s[2] * s[3]]
    local = [s[0] + s[4], s[4], s[1] * s[2] + 2 * s[3], s[0] ** 2 - s[1] ** 2 + s[3] ** 2]
    base = canonical_quotient(local, glob, list(s))
    M = sp.Matrix(4, 4, lambda i, j: sp.Rational(int(rng.integers(-3, 4)), int(rng.integers(1, 4))))
    while M.det() == 0:
        M = M + sp.eye(4)
    mixed = [sp.expand(sum(M[i, j] * local[j] for j in range(4)) + int(rng.integers(-2, 3)) * glob[i % 2])
             for i in range(4)]
    assert [sp.expand(e) for e in canonical_quotient(mixed, glob, list(s))] == [sp.expand(e) for e in base]
    assert len(base) == 4 and s[4] in base                      # W-style coordinates come out alone


def _relu_spec(tmp_path, fn="relu"):
    spec = tmp_path / "n.toml"
    spec.write_text(f'input = 2\n[[layer]]\ntype = "linear"\nout = 4\n[[layer]]\ntype = "activation"\nfn = "{fn}"\n'
                    '[[layer]]\ntype = "linear"\nout = 2\n')
    return str(spec)


def _dead_unit_files(tmp_path, kcache) -> list[str]:
    """Spec, params and data files of a 2-4-2 ReLU net with unit 0 planted dead: CLI arguments."""
    m, th, X, Y = _planted(4, width=4, dead=[0], bypassed=[])
    np.savez(tmp_path / "P.npz", theta=th)
    np.savez(tmp_path / "D.npz", X=X, Y=Y)
    return [_relu_spec(tmp_path), "--params", str(tmp_path / "P.npz"), "--data", str(tmp_path / "D.npz"),
            "--cache", kcache]


def test_local_laws_of_other_optimizers(tmp_path, capsys, kcache):
    # verify --local with heavy-ball momentum and coupled weight decay: the dead unit's coordinates
    # are no longer constant (decay shrinks them) but obey the rule's exact law, checked to 1e-10;
    # Adam has no closed law and is refused before any work
    common = _dead_unit_files(tmp_path, kcache)
    from noether.cli import main
    rc = main(["verify", *common, "--local", "--steps", "40", "--optimizer", "momentum", "--momentum", "0.9",
               "--weight-decay", "0.01", "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert rc == 0 and rep["ok"], rep
    laws = rep["local_laws"]
    assert laws and all(c["break_step"] is None and c["max_residual"] <= 1e-10 for c in laws)
    assert main(["verify", *common, "--local", "--optimizer", "adam"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "no closed charge law" in err


def test_cli_train_local(tmp_path, capsys, kcache):
    # train --local: the same check along a training run; a diverging run stops with one line
    # (exit 2) and keeps the parameters before the non-finite step
    common = _dead_unit_files(tmp_path, kcache)
    from noether.cli import main
    rc = main(["train", *common, "--local", "--steps", "60", "--region-plot", str(tmp_path / "r.png")])
    out = capsys.readouterr().out
    assert rc == 0 and "region held for the whole run" in out and "all laws hold" in out, out
    assert (tmp_path / "r.png").stat().st_size > 0
    rc = main(["train", *common, "--steps", "400", "--lr", "1e3", "--out", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().count("\n") == 0 and "diverged" in err
    assert np.isfinite(np.load(tmp_path / "o.npz")["theta"]).all()


def test_cli_teleport_nonlinear(tmp_path, capsys, kcache):
    # teleport --action nonlinear: the batch loss is kept to the rounding bound the result states,
    # the objective climbs, the held-out loss moves; a batch wider than the layer and σ with a
    # zero on the batch (ReLU) are refused with one line
    from noether.cli import main
    spec = _relu_spec(tmp_path, "tanh")
    base = [spec, "--action", "nonlinear", "--samples", "12", "--cache", kcache]
    rc = main(["teleport", *base, "--steps", "3", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert rc == 0 and r["ok"] and r["batch"] == 4
    assert abs(r["rel_batch_loss_change"]) <= r["loss_rtol"] <= 1e-9
    assert r["objective_after"] > r["objective_before"] and r["heldout_loss_after"] != r["heldout_loss_before"]
    assert main(["teleport", *base, "--batch", "5"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "batch <= width: 5 samples, width 4" in err
    assert main(["teleport", _relu_spec(tmp_path), "--action", "nonlinear", "--samples", "12", "--cache", kcache]) == 2
    assert "zero on the batch" in capsys.readouterr().err
