"""``verify --local``: the local laws along a GD run, each checked while its region holds.

A local charge C = ½θᵀAθ + cᵀθ of the locally reduced model obeys the same exact GD law as a
global one, ΔC = η²/2 gᵀAg, at every step whose θ_k keeps the pre-activations of its pinned units
inside their pieces (then the model's gradient is the reduced model's).  The first step at which
a region is left (a dead unit revives, a bypassed one hits the kink) is its break step; the
charge's law is claimed only before it.  Region statistics (dead / bypassed / other pinned /
mixed units per step) are recorded for every step.
"""

from __future__ import annotations

import os

import numpy as np

from .derive.derivation import derive
from .errors import SpecError
from .io import atomic_write
from .kernels.codegen import build_kernels
from .local import local_symmetries
from .model.regions import classify, still_in
from .run.checks import Report
from .run.data import initial_parameters, load_data, random_data
from .run.gd import run_gd
from .run.params import load_params

TOL_LOCAL = 1e-10    # an identity in float64: rounding of C and of the update is ~1e-15 relative


def region_counts(model, theta: np.ndarray, X: np.ndarray) -> dict[str, int]:
    """How many units are dead, bypassed, pinned to another piece, or mixed at θ."""
    out = {"dead": 0, "bypassed": 0, "other_piece": 0, "mixed": 0}
    for u in classify(model, theta, X):
        out[u.region if u.region in out else "other_piece"] += 1
    return out


def check_local_laws(res, kernels, thetas: np.ndarray, X, Y, lr: float) -> list[dict]:
    """For each local charge: break step of its region and the worst law residual before it."""
    model = res.model
    mod = kernels.module
    ws = mod.make_workspace(X.shape[0])
    grad = np.empty(model.D)
    steps = thetas.shape[0] - 1
    inside = np.array([still_in(model, res.pinned, th, X) for th in thetas])   # (steps+1) × pinned
    key = {id(r): i for i, r in enumerate(res.pinned)}
    out = []
    grads = []
    for k in range(steps):
        mod.loss_grad(thetas[k], X, Y, grad, ws)
        grads.append(grad.copy())
    for ch in res.charges:
        cols = [key[id(r)] for r in ch.regions]
        ok = inside[:, cols].all(axis=1)
        brk = int(np.argmin(ok)) if not ok.all() else None
        last = steps if brk is None else brk          # transitions k -> k+1 with θ_k in the region
        Aab = np.abs(ch.A)
        worst = 0.0
        for k in range(last):
            t0, t1, g = thetas[k], thetas[k + 1], grads[k]
            pred = 0.5 * lr * lr * g @ ch.A @ g
            scale = (0.5 * np.abs(t0) @ Aab @ np.abs(t0) + np.abs(ch.c) @ np.abs(t0)
                     + 0.5 * np.abs(t1) @ Aab @ np.abs(t1) + np.abs(ch.c) @ np.abs(t1) + abs(pred))
            worst = max(worst, abs(ch.value(t1) - ch.value(t0) - pred) / (scale + 1e-300))
        out.append({"charge": ch.name, "expr": str(ch.expr), "region": ch.region, "break_step": brk,
                    "checked_steps": last, "max_residual": worst, "tolerance": TOL_LOCAL,
                    "ok": bool(worst <= TOL_LOCAL)})
    return out


def verify_local(model, opts, progress=print, deriv=None, kernels=None, theta0=None) -> Report:
    """GD from θ0 (``opts.params`` or the seeded initialisation) on the data; every local law of
    the starting point's regions checked at every step until its region breaks."""
    if opts.optimizer is not None:
        raise SpecError("--local", "checks the full-batch GD law; it is not combined with --optimizer")
    X, Y = load_data(model, opts.data) if opts.data else random_data(model, opts.samples, opts.seed)
    if theta0 is None:
        if getattr(opts, "params", None):
            theta0 = load_params(model, opts.params)
        else:
            theta0 = initial_parameters(model, opts.seed)
    progress(f"  local: regions and local algebra on {X.shape[0]} samples ...")
    res = local_symmetries(model, theta0, X, seed=opts.seed, count=False)
    kern = kernels or build_kernels(deriv or derive(model), opts.cache)
    progress(f"  local: GD {opts.steps} steps at lr={opts.lr} ...")
    run = run_gd(kern, theta0, X, Y, opts.lr, opts.steps, record=True, parallel=False, check_law=False)
    rep = Report(model.name, info={"lr": opts.lr, "steps": opts.steps, "seed": opts.seed,
                                   "units": [u.to_json() for u in res.units]})
    if run.diverged:
        rep.diverged_at = run.completed
        return rep
    thetas = run.theta
    checks = check_local_laws(res, kern, thetas, X, Y, opts.lr)
    for c in checks:
        when = "whole run" if c["break_step"] is None else f"until step {c['break_step']}"
        rep.add(c["charge"], "local", c["max_residual"], c["tolerance"], c["region"],
                f"C(theta_next) - C(theta) = eta^2/2 B(g, g) ({when}, {c['checked_steps']} steps)")
    rep.info["local_laws"] = checks
    stats = [region_counts(model, th, X) for th in thetas]
    rep.info["region_stats"] = {k: [s[k] for s in stats] for k in stats[0]} if stats else {}
    if not checks:
        rep.info["local_note"] = "no local charges at the starting point: nothing local was checked"
    if getattr(opts, "region_plot", None):
        plot_region_stats(rep.info["region_stats"], opts.region_plot, model.name)
    return rep


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
