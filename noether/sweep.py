"""A grid of runs over learning rates and seeds, on local processes or a Dask cluster.

Each task rebuilds the model from its dict, derives, loads the (cached) kernels, runs the rule for a
fixed time T = η(1−τ)·steps (so that runs at different η are comparable), and returns one row:
the worst exact-law residual, the continuous predictions' measured errors per kind of charge, the
exact and predicted rotation decay per step, and a subsampled charge trajectory for plots.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field

import numpy as np

from .derive.continuous import fit_order, prediction_errors, rotation_decay
from .derive.derivation import derive
from .derive.laws import derive_state_law
from .kernels.codegen import build_kernels
from .model import Model
from .optim import HYPER, make_rule
from .run.data import initial_parameters, random_data
from .run.optimizers import run_optimizer
from .run.recheck import eval_law, generator_sparse


@dataclass
class SweepConfig:
    model: dict
    optimizer: str = "gd"
    hyper: dict = field(default_factory=dict)     # the rule's hyperparameters besides lr, by name
    batch: int | None = None
    samples: int = 32
    time: float = 2.0
    cache: str | None = None


def task(cfg: SweepConfig, lr: float, seed: int) -> dict:
    model = Model.from_dict(cfg.model)
    rule = make_rule(cfg.optimizer, lr=lr, **cfg.hyper)
    deriv = derive(model)
    deriv.require_charges("sweep")
    kern = build_kernels(deriv, cfg.cache)
    X, Y = random_data(model, cfg.samples, seed)
    steps = max(1, int(round(cfg.time / (lr * (1 - rule.dampening)))))
    run = run_optimizer(kern, rule, initial_parameters(model, seed), X, Y, steps, batch=cfg.batch, seed=seed)
    row = {"lr": lr, "seed": seed, "steps": steps, "completed": run.completed, "diverged": run.diverged,
           "law_residual": float(run.charge_resid.max()) if run.law_checked and len(run.charge_resid) else None}
    if run.diverged or not run.law_checked:
        if not run.law_checked:
            row["drift"] = float(np.abs(run.charges - run.charges[0]).max()) if run.charges.size else 0.0
        return row
    preds = prediction_errors(kern, rule, run, kern.layout.names)
    for kind in sorted({p.kind for p in preds}):
        ps = [p for p in preds if p.kind == kind]
        row[f"error_{kind}"] = max(p.error for p in ps)
        row[f"error_first_order_{kind}"] = max(p.error_first_order for p in ps)
    if preds:
        idx = np.linspace(0, len(preds[0].t) - 1, min(200, len(preds[0].t))).astype(int)
        row["trajectory"] = {"charge": preds[0].charge, "t": preds[0].t[idx].tolist(),
                             "measured": preds[0].measured[idx].tolist(),
                             "predicted": preds[0].predicted[idx].tolist()}
    if rule.momentum > 0 and rule.state:
        row.update({f"rotation_{k}": v for k, v in rotation_decay(lr, rule.momentum, rule.dampening).items()})
        if kern.generators is not None and len(kern.generators["gptr"]) > 1 and "v" in rule.state:
            fit = fitted_decay(rule, run, generator_sparse(kern.generators, model.D))
            if fit is not None:
                row.update({f"rotation_{k}": v for k, v in fit.items()})
                f, pr = fit["fitted_per_step"], row["rotation_predicted_per_step"]
                if 0 < f < 1:   # the Bregman prediction's error in the fitted rate −ln(factor)
                    row["rotation_bregman_rate_error"] = abs(np.log(pr) - np.log(f)) / abs(np.log(f))
    return row


def rotation_combinations(gens, D: int, max_dense: int = 400):
    """Combinations Σ w_j X_j of the generators with antisymmetric A and c = 0 (rotations), from the
    null space of the stacked symmetric parts (A_j + A_jᵀ, c_j); none when D is large."""
    if not gens or D > max_dense:
        return []
    from scipy.linalg import null_space  # lazy: scipy.linalg is 0.2 s of start-up
    cols = [np.concatenate([np.asarray((A + A.T).todense()).ravel(), c]) for A, c in gens]
    M = np.stack(cols, axis=1)
    scale = max(np.abs(M).max(), 1.0)
    W = null_space(M, rcond=1e-10 * scale) if M.size else np.zeros((len(gens), 0))
    out = []
    for w in W.T:
        A = sum(wj * A for wj, (A, _) in zip(w, gens) if abs(wj) > 1e-14)
        if hasattr(A, "nnz") and A.nnz:
            out.append(A)
    return out


def fitted_decay(rule, run, gens) -> dict | None:
    """Per-step decay factor of the Noether momentum P_k = X(θ_k)·v_k, FITTED from the run.

    With rotation generators (antisymmetric A; Kunin et al. 2021, Tanaka & Kunin 2021) P decays
    freely: the factor is exp of the least-squares slope of log|P_k| against k, over the steps
    where |P_k| stands above float64 rounding of its terms.  Otherwise the source of the derived
    recurrence P_{k+1} = ρ P_k + s_k is evaluated from the run and ρ is fitted by least squares."""
    n = run.completed
    if n < 3 or run.state is None:
        return None
    v = run.state[:, rule.state.index("v")]
    th = run.theta
    rots = rotation_combinations(gens, th.shape[1])
    if rots:
        best = None
        for A in rots:
            P = np.einsum("kd,kd->k", v, np.asarray((A @ th.T).T))
            Pa = np.einsum("kd,kd->k", np.abs(v), np.asarray((abs(A) @ np.abs(th).T).T))
            k = np.arange(len(P))
            # k ≥ 1 (v_0 = 0) and |P_k| ≥ 1e6·ε·(sum of |terms|): nearer the floor it is rounding noise
            ok = (k >= 1) & (np.abs(P) > 1e6 * np.finfo(float).eps * Pa)
            if ok.sum() >= 3 and (best is None or ok.sum() > best[0]):
                slope = np.polyfit(k[ok], np.log(np.abs(P[ok])), 1)[0]
                best = (int(ok.sum()), float(np.exp(slope)))
        if best is not None:
            return {"fitted_per_step": best[1], "fit": "log-slope of |P_k| (rotation)", "fit_points": best[0]}
    law = derive_state_law(rule, state="v", general=True)
    vals = rule.values()
    hyper = {k: vals[s] for k, s in HYPER.items()}
    first = np.zeros(n)
    first[0] = 1.0
    vecs = {"theta": th[:n], "g": run.grad[:n], "v": v[:n]}
    rhos = []
    for A, c in gens:
        P = np.einsum("kd,kd->k", v, np.asarray((A @ th.T).T)) + v @ c
        src, _ = eval_law(law.source, vecs, A, c, hyper, first)
        x, y = P[1:n], P[2:n + 1] - src[1:n]
        if np.dot(x, x) > 0:
            rhos.append(float(np.dot(x, y) / np.dot(x, x)))
    if not rhos:
        return None
    return {"fitted_per_step": float(np.median(rhos)), "fit": "least-squares rho of P_{k+1} = rho P_k + s_k",
            "fit_points": n - 1}


def _bar(done: int, total: int, out=sys.stderr) -> None:
    w = 30
    fill = int(w * done / max(total, 1))
    out.write(f"\r  [{'#' * fill}{'.' * (w - fill)}] {done}/{total}")
    if done == total:
        out.write("\n")
    out.flush()


def run_sweep(cfg: SweepConfig, lrs, seeds, workers: int | None = None, scheduler: str | None = None,
              progress: bool = True) -> list[dict]:
    """Every (lr, seed): locally on ``workers`` processes (default: all cores) or on a Dask cluster."""
    grid = [(lr, s) for lr in lrs for s in seeds]
    rows: list[dict] = []
    if scheduler:
        from dask.distributed import Client, as_completed as dask_completed  # optional extra (--scheduler)
        with Client(scheduler) as client:
            futs = [client.submit(task, cfg, lr, s, pure=False) for lr, s in grid]
            for n, f in enumerate(dask_completed(futs), 1):
                rows.append(f.result())
                if progress:
                    _bar(n, len(grid))
    elif (workers or os.cpu_count() or 1) == 1 or len(grid) == 1:
        for n, (lr, s) in enumerate(grid, 1):
            rows.append(task(cfg, lr, s))
            if progress:
                _bar(n, len(grid))
    else:
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=mp.get_context("spawn")) as ex:
            futs = [ex.submit(task, cfg, lr, s) for lr, s in grid]
            for n, f in enumerate(as_completed(futs), 1):
                rows.append(f.result())
                if progress:
                    _bar(n, len(grid))
    return sorted(rows, key=lambda r: (r["lr"], r["seed"]))


#: An order in η is fitted only in the asymptotic regime: every mean relative error below this.
SMALL_ERROR = 0.1


def error_orders(rows: list[dict]) -> dict:
    """Per error column: the fitted order in η of the seed-mean error, or ``order: None`` with the
    ``refused`` reason when the errors are not small or do not fall as η falls (a slope fitted
    there describes nothing: the approximation has not entered its asymptotic regime)."""
    out = {}
    cols = sorted({k for r in rows for k in r if k.startswith("error_")})
    for col in cols:
        lrs = sorted({r["lr"] for r in rows if r.get(col) is not None})
        if len(lrs) < 2:
            continue
        errs = [float(np.mean([r[col] for r in rows if r["lr"] == lr and r.get(col) is not None])) for lr in lrs]
        refused = None
        if max(errs) >= SMALL_ERROR:
            refused = f"errors not small (max {max(errs):.2g} >= {SMALL_ERROR:g})"
        elif any(b <= a for a, b in zip(errs, errs[1:])):
            refused = "errors do not fall as eta falls"
        out[col] = {"order": None if refused else fit_order(lrs, errs), "refused": refused,
                    "lr": lrs, "mean_error": errs}
    return out


def config_dict(cfg: SweepConfig) -> dict:
    return asdict(cfg)
