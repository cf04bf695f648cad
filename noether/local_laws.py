"""Local laws along runs (``verify --local``, ``train --local``): each local charge's exact law
checked at every step while its region holds.

A local charge C = ½θᵀAθ + cᵀθ of the locally reduced model obeys the same exact per-step law as a
global one (for GD ΔC = η²/2 gᵀAg; for any rule with a closed law, that law's right-hand side in
the atoms B(u, v) = uᵀAv and L(u) = cᵀu), at every step whose θ_k keeps the pre-activations of its
pinned units strictly inside their pieces: there the model's gradient is the reduced model's, so
X(θ_k)·g_k = 0, the only identity the law uses.  The first step at which a region is left (a dead
unit revives, a bypassed one reaches the kink) is its break step; the law is claimed only before
it.  Region statistics (dead / bypassed / other pinned / mixed units per step) are recorded for
every step.  The laws are evaluated with plain numpy from the recorded run
(:func:`noether.run.eval_law`), not by the generated kernels, which know only the global charges.
"""

from __future__ import annotations

import os

import numpy as np

from .derive.derivation import derive
from .derive.laws import derive_law
from .errors import SpecError
from .io import atomic_write
from .kernels.codegen import build_kernels
from .local import local_symmetries
from .model.regions import classify, still_in
from .optim import HYPER
from .run.checks import Report
from .run.data import initial_parameters, load_data, random_data
from .run.optimizers import run_optimizer
from .run.params import load_params
from .run.recheck import bilinear, eval_law

TOL_LOCAL = 1e-10    # an identity in float64: rounding of C and of the update is ~1e-15 relative


def region_counts(model, theta: np.ndarray, X: np.ndarray) -> dict[str, int]:
    """How many units are dead, bypassed, pinned to another piece, or mixed at θ."""
    out = {"dead": 0, "bypassed": 0, "other_piece": 0, "mixed": 0}
    for u in classify(model, theta, X):
        out[u.region if u.region in out else "other_piece"] += 1
    return out


def closed_law(rule):
    """The rule's exact charge law; refused with one line when it has none (Adam: kinetic breaking)."""
    law = derive_law(rule)
    if not law.closed:
        raise SpecError("--optimizer", f"{rule.name} has no closed charge law ({law.note}); --local checks "
                        "exact laws: accepted, a rule whose `noether laws --optimizer NAME` is closed")
    return law


def _stack(segments):
    """Consecutive optimizer runs (each an :class:`~noether.run.OptRun` with ``theta``, ``grad`` and
    ``state`` recorded) as transitions k → k+1: θ_k, θ_{k+1}, g_k, state_k, and the rule's ``first``
    flag (1 at the first step of each run)."""
    segs = [s for s in segments if s.completed > 0]
    if not segs:
        return None
    cat = np.concatenate
    out = {"t0": cat([s.theta[:-1] for s in segs]), "t1": cat([s.theta[1:] for s in segs]),
           "g": cat([s.grad for s in segs]),
           "first": cat([np.r_[1.0, np.zeros(s.completed - 1)] for s in segs])}
    for i, name in enumerate(segs[0].rule.state):
        out[name] = cat([s.state[:-1, i] for s in segs])
    return out


def check_local_laws(res, rule, segments, X) -> list[dict]:
    """For each local charge of ``res`` (:func:`noether.local_symmetries`): the break step of its
    region along the runs ``segments`` (consecutive, as ``train`` makes them between interventions)
    and the worst relative residual of ``rule``'s exact law on the steps before it."""
    law = closed_law(rule)
    tr = _stack(segments)
    model = res.model
    points = np.concatenate([tr["t0"], tr["t1"][-1:]]) if tr else segments[0].theta[:1]
    inside = np.array([still_in(model, res.pinned, th, X) for th in points])   # (steps+1) × pinned
    key = {id(r): i for i, r in enumerate(res.pinned)}
    steps = points.shape[0] - 1
    vals = rule.values()
    hyper = {k: vals[v] for k, v in HYPER.items()}
    out = []
    for ch in res.charges:
        ok = inside[:, [key[id(r)] for r in ch.regions]].all(axis=1)
        brk = None if ok.all() else int(np.argmin(ok))
        last = steps if brk is None else brk          # transitions k -> k+1 with θ_k in the region
        worst = 0.0
        if last:
            t0, t1 = tr["t0"][:last], tr["t1"][:last]
            vecs = {"theta": t0} | {n: tr[n][:last] for n in ["g", *rule.state]}
            pred, pred_abs = eval_law(law.rhs, vecs, ch.A, ch.c, hyper, tr["first"][:last])
            Aab, cab = np.abs(ch.A), np.abs(ch.c)

            def value(T, A, c):
                return 0.5 * bilinear(A, T, T) + T @ c
            scale = (value(np.abs(t0), Aab, cab) + value(np.abs(t1), Aab, cab) + pred_abs)
            resid = np.abs(value(t1, ch.A, ch.c) - value(t0, ch.A, ch.c) - pred) / (scale + 1e-300)
            worst = float(resid.max())
        out.append({"charge": ch.name, "expr": str(ch.expr), "region": ch.region, "break_step": brk,
                    "checked_steps": last, "max_residual": worst, "tolerance": TOL_LOCAL,
                    "law": law.pretty(), "ok": bool(worst <= TOL_LOCAL)})
    return out


def local_report(model, res, rule, segments, X, region_plot: str | None = None, info: dict | None = None) -> Report:
    """The local laws of ``res`` along ``segments`` as a :class:`Report` (one row per local charge),
    with the break steps (``info["local_laws"]``) and the units per region at every step
    (``info["region_stats"]``); ``region_plot`` writes them as PNG."""
    rep = Report(model.name, info=(info or {}) | {"units": [u.to_json() for u in res.units]})
    checks = check_local_laws(res, rule, segments, X)
    for c in checks:
        when = "whole run" if c["break_step"] is None else f"until step {c['break_step']}"
        rep.add(c["charge"], f"local:{rule.name}", c["max_residual"], c["tolerance"], c["region"],
                f"{c['law']} ({when}, {c['checked_steps']} steps)")
    rep.info["local_laws"] = checks
    thetas = [segments[0].theta[0]] + [th for s in segments for th in s.theta[1:]]
    stats = [region_counts(model, th, X) for th in thetas]
    rep.info["region_stats"] = {k: [s[k] for s in stats] for k in stats[0]}
    if not checks:
        rep.info["local_note"] = "no local charges at the starting point: nothing local was checked"
    if region_plot:
        plot_region_stats(rep.info["region_stats"], region_plot, model.name)
    return rep


def verify_local(model, opts, progress=print, deriv=None, kernels=None, theta0=None) -> Report:
    """A run of ``opts.optimizer`` (GD by default) from θ0 (``opts.params`` or the seeded
    initialisation) on the data; every local law of the starting point's regions checked at every
    step until its region breaks."""
    rule = opts.rule()
    closed_law(rule)                                # refused before any work
    X, Y = load_data(model, opts.data) if opts.data else random_data(model, opts.samples, opts.seed)
    if theta0 is None:
        if getattr(opts, "params", None):
            theta0 = load_params(model, opts.params)
        else:
            theta0 = initial_parameters(model, opts.seed)
    progress(f"  local: regions and local algebra on {X.shape[0]} samples ...")
    res = local_symmetries(model, theta0, X, seed=opts.seed, count=False)
    kern = kernels or build_kernels(deriv or derive(model), opts.cache)
    progress(f"  local: {rule.name} {opts.steps} steps at lr={rule.lr} ...")
    run = run_optimizer(kern, rule, theta0, X, Y, opts.steps, batch=opts.batch, seed=opts.seed, record=True)
    info = {"lr": rule.lr, "steps": opts.steps, "seed": opts.seed, "optimizer": rule.name}
    if run.diverged:
        rep = Report(model.name, info=info)
        rep.diverged_at = run.completed
        return rep
    return local_report(model, res, rule, [run], X, getattr(opts, "region_plot", None), info)


def plot_region_stats(stats: dict[str, list[int]], path: str, title: str = "") -> None:
    """Units per region against the step, written atomically as PNG."""

    import matplotlib   # optional dependency (extra 'plots'): imported only when a plot is asked for
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # extra "plots"
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise SpecError("--region-plot", f"folder {directory!r} does not exist")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for k, v in stats.items():
        ax.plot(np.arange(len(v)), v, label=k)
    ax.set_xlabel("GD step")
    ax.set_ylabel("units")
    ax.set_title(f"{title}: regions along the run")
    ax.legend()
    try:
        atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=100), mode="wb", field="--region-plot")
    finally:
        plt.close(fig)
