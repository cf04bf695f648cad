"""``noether sweep SPEC --lr 1e-3,1e-2 --seeds 0..9``: a grid of runs, a table, plots, error orders."""

from __future__ import annotations

import csv
import json
import os
import sys

from ..errors import SpecError
from ..io import atomic_write
from ..optim import make_rule
from ._common import add_optimizer_arguments, add_spec, finite_float, hyper_values, load, positive_int

#: Fewest steps a sweep run may have (a grid point below this is refused).
MIN_STEPS = 10

HELP = "run a grid over learning rates and seeds; table (CSV/JSON), plots, fitted error order in eta"


def parse_lrs(text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SpecError("--lr", f"expected a comma-separated list of numbers, got {text!r}") from None
    if not vals or any(not (v > 0 and v < float("inf")) for v in vals):
        raise SpecError("--lr", f"every learning rate must be a finite number > 0, got {text!r}")
    return vals


def parse_seeds(text: str) -> list[int]:
    try:
        if ".." in text:
            a, b = text.split("..")
            out = list(range(int(a), int(b) + 1))
        else:
            out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SpecError("--seeds", f"expected A..B or a comma-separated list of integers, got {text!r}") from None
    if not out:
        raise SpecError("--seeds", f"empty seed list {text!r}")
    return out


def add_arguments(p):
    add_spec(p)
    p.add_argument("--lr", default="0.04,0.02,0.01,0.005", help="comma-separated learning rates")
    p.add_argument("--seeds", default="0..3", help="A..B or a comma-separated list (default 0..3)")
    add_optimizer_arguments(p, lr=False)
    p.add_argument("--batch", type=positive_int, default=None)
    p.add_argument("--samples", type=positive_int, default=32)
    p.add_argument("--time", type=finite_float, default=2.0, help="run time T = eta(1-tau)·steps (default 2)")
    p.add_argument("--out", default="sweep", help="output stem: STEM.csv, STEM.json, STEM_*.png")
    p.add_argument("--workers", type=positive_int, default=None, help="local processes (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask distributed cluster (extra 'dask')")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--cache", metavar="DIR")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    from ..sweep import SweepConfig, error_orders, run_sweep
    model = load(args)
    lrs, seeds = parse_lrs(args.lr), parse_seeds(args.seeds)
    hyper = hyper_values(args)
    rules = [make_rule(args.optimizer, lr=lr, **hyper) for lr in lrs]   # validate every grid point before starting anything
    if args.batch is not None and args.batch > args.samples:
        raise SpecError("--batch", f"must be between 1 and the data size {args.samples}, got {args.batch}")
    if not args.time > 0:
        raise SpecError("--time", f"must be > 0, got {args.time}")
    for lr, rule in zip(lrs, rules):      # a run of a few steps checks nothing and fits nothing
        damp = 1 - rule.dampening             # the same step count as sweep.task
        if round(args.time / (lr * damp)) < MIN_STEPS:
            raise SpecError("--lr", f"{lr:g} gives {max(1, round(args.time / (lr * damp)))} step(s) over --time "
                            f"{args.time:g}; accepted: lr <= {args.time / (MIN_STEPS * damp):.3g} "
                            f"(at least {MIN_STEPS} steps), or a longer --time")
    from ..derive.derivation import derive
    if derive(model).dim == 0:      # nothing to sweep, by design: say so and write nothing
        print(f"{model.name}: nothing to sweep: the continuous symmetry algebra is trivial (no charges, no laws)")
        return 0
    folder = os.path.dirname(os.path.abspath(args.out)) or "."
    if not os.path.isdir(folder):
        raise SpecError("--out", f"folder {folder!r} does not exist")
    if args.scheduler:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise SpecError("--scheduler", "needs Dask: pip install 'noether[dask]'") from None
    cfg = SweepConfig(model.to_dict(), args.optimizer, hyper, args.batch, args.samples, args.time, args.cache)
    rows = run_sweep(cfg, lrs, seeds, workers=args.workers, scheduler=args.scheduler)
    orders = error_orders(rows)
    diverged = [(r["lr"], r["seed"], r["completed"]) for r in rows if r["diverged"]]
    write_table(args.out, rows, orders)
    plots = [] if args.no_plots else write_plots(args.out, rows, orders)
    summary = {"runs": len(rows), "error_orders": {k: v["order"] for k, v in orders.items()},
               "diverged": [{"lr": a, "seed": b, "step": c} for a, b, c in diverged],
               "files": [args.out + ".csv", args.out + ".json", *plots]}
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        print(f"{len(rows)} runs; table {args.out}.csv, {args.out}.json" + (f"; plots {', '.join(plots)}" if plots else ""))
        for lr, s, step in diverged:
            print(f"  diverged: lr={lr} seed={s} at step {step}")
        for col, o in orders.items():
            order = f"order in eta {o['order']:.2f}" if o["order"] is not None else f"no order: {o['refused']}"
            print(f"  {col:34s} {order}   "
                  + "  ".join(f"{lr:g}:{e:.2e}" for lr, e in zip(o["lr"], o["mean_error"])))
    return 0


def write_table(stem: str, rows: list[dict], orders: dict) -> None:
    flat = [{k: v for k, v in r.items() if k != "trajectory"} for r in rows]
    cols = sorted({k for r in flat for k in r}, key=lambda k: (k not in ("lr", "seed", "steps"), k))

    def w_csv(fh):
        wr = csv.DictWriter(fh, fieldnames=cols)
        wr.writeheader()
        wr.writerows(flat)
    atomic_write(stem + ".csv", w_csv, field="--out")
    atomic_write(stem + ".json", lambda fh: json.dump({"rows": rows, "error_orders": orders}, fh, indent=1), field="--out")


def write_plots(stem: str, rows: list[dict], orders: dict) -> list[str]:
    try:
        import matplotlib  # lazy: optional plots extra, slow to import
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # after choosing the Agg backend
    except ImportError:
        print("  (plots skipped: pip install 'noether[plots]')", file=sys.stderr)
        return []
    out = []
    if orders:
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for col, o in orders.items():
            order = f"order {o['order']:.2f}" if o["order"] is not None else "no order fitted"
            ax.loglog(o["lr"], o["mean_error"], "o-", label=f"{col[6:]} ({order})")
        ax.set_xlabel("learning rate η")
        ax.set_ylabel("max relative error of the prediction")
        ax.set_title("continuous prediction vs discrete run")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(stem + "_error_vs_lr.png", dpi=120)
        plt.close(fig)
        out.append(stem + "_error_vs_lr.png")
    traj = [r for r in rows if r.get("trajectory") and r["seed"] == rows[0]["seed"]]
    if traj:
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for r in traj:
            t = r["trajectory"]
            line, = ax.plot(t["t"], t["measured"], label=f"η={r['lr']:g} run")
            ax.plot(t["t"], t["predicted"], "--", color=line.get_color(), label=f"η={r['lr']:g} modified flow")
        ax.set_xlabel("t = η(1−τ)k")
        ax.set_ylabel(traj[0]["trajectory"]["charge"])
        ax.set_title("charge trajectory: run (solid) vs prediction (dashed)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(stem + "_charges.png", dpi=120)
        plt.close(fig)
        out.append(stem + "_charges.png")
    rot = [r for r in rows if r.get("rotation_exact_per_step") is not None]
    if rot:
        fig, ax = plt.subplots(figsize=(5.5, 4))
        lrs = [r["lr"] for r in rot]
        fit = [r for r in rot if r.get("rotation_fitted_per_step") is not None]
        if fit:
            ax.plot([r["lr"] for r in fit], [r["rotation_fitted_per_step"] for r in fit], "s", mfc="none",
                    ms=9, label=f"fitted from the run ({fit[0].get('rotation_fit', 'fit')})")
        ax.plot(lrs, [r["rotation_exact_per_step"] for r in rot], "o", ms=4, label="exact discrete law: β")
        ax.plot(lrs, [r["rotation_predicted_per_step"] for r in rot], "x", label="Bregman prediction e^{-γ dt}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate η")
        ax.set_ylabel("decay factor of P = X(θ)·v per step")
        ax.set_title("fitted decay rate vs prediction")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(stem + "_decay.png", dpi=120)
        plt.close(fig)
        out.append(stem + "_decay.png")
    return out
