"""``noether verify SPEC``: check every derived law against runs (exit 0 ok, 1 a law failed)."""

from __future__ import annotations

import sys

from ..errors import SpecError
from ..verify import VerifyOptions, verify
from ._common import add_optimizer_arguments, add_spec, finite_float, hyper_values, load, positive_int, print_json

HELP = "check conservation laws, GD laws and Bregman laws against numerical runs"


def add_arguments(p):
    add_spec(p)
    p.add_argument("--steps", type=positive_int, default=2000, help="GD steps (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed for data and parameters (default 0)")
    p.add_argument("--samples", type=positive_int, default=32, help="random samples (default 32)")
    p.add_argument("--data", metavar="FILE.npz", help="data with arrays X, Y instead of random data")
    p.add_argument("--gamma", type=finite_float, default=None, help="Bregman gamma (default 2/lr)")
    p.add_argument("--trajectory", metavar="FILE.npz", help="save the GD run for independent checks")
    p.add_argument("--cache", metavar="DIR", help="kernel cache folder (default $NOETHER_CACHE or ~/.cache/noether)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_optimizer_arguments(p, default=None,
                            help="check this optimizer's exact law (or measured drift) instead of gf/gd/bregman")
    p.add_argument("--batch", type=positive_int, default=None, help="minibatch size (seeded batches)")
    p.add_argument("--local", action="store_true",
                   help="check the local laws of the starting point's regions until each region breaks")
    p.add_argument("--params", metavar="P.npz", default=None, help="starting parameters (theta, or one array per block)")
    p.add_argument("--region-plot", metavar="FILE.png", default=None, help="with --local: units per region against the step")


def run(args) -> int:
    model = load(args)
    if (args.params or args.region_plot) and not args.local:
        raise SpecError("--params" if args.params else "--region-plot", "is used with --local only")
    opts = VerifyOptions(lr=args.lr, steps=args.steps, seed=args.seed, samples=args.samples, data=args.data,
                         gamma=args.gamma, trajectory=args.trajectory, cache=args.cache,
                         optimizer=args.optimizer, hyper=hyper_values(args), batch=args.batch,
                         local=args.local, params=args.params, region_plot=args.region_plot)
    progress = (lambda s: print(s, file=sys.stderr)) if args.json else print
    rep = verify(model, opts, progress=progress)
    if rep.diverged_at is not None:
        saved = f"; partial trajectory saved to {args.trajectory}" if args.trajectory else ""
        raise SpecError("--lr", f"{args.optimizer or 'GD'} diverged: parameters became non-finite at step {rep.diverged_at} "
                        f"with lr={args.lr}{saved}; use a smaller --lr")
    if args.json:
        print_json(rep.to_json())
    else:
        if rep.checks:
            print(rep.table())
        for key in ("law", "state_law"):
            if key in rep.info:
                print(f"{key}: {rep.info[key]}")
        if rep.info.get("continuous"):
            print("continuous predictions (Kunin et al. 2021), measured error, not pass/fail:")
            for c in rep.info["continuous"][:12]:
                print(f"  {c['charge']:28s} {c['kind']:11s} {c['regime']:12s} modified flow {c['error']:.3e}"
                      f"   first order {c['error_first_order']:.3e}")
        if rep.info.get("rotation_decay"):
            r = rep.info["rotation_decay"]
            print(f"rotation charge decay per step: exact {r['exact_per_step']:.6g}, Bregman e^(-gamma dt) "
                  f"{r['predicted_per_step']:.6g} (rate error {r['rate_error']:.2e})")
        if args.local:
            print_local(rep)
        print(rep.verdict)
    return 0 if rep.ok else 1


def print_local(rep) -> None:
    """Break steps and region statistics of ``verify --local``."""
    for c in rep.info.get("local_laws", []):
        brk = "region held for the whole run" if c["break_step"] is None else f"region breaks at step {c['break_step']}"
        print(f"  {c['charge']}: {c['expr']}  {brk}; law checked on {c['checked_steps']} steps, "
              f"max residual {c['max_residual']:.1e}")
    st = rep.info.get("region_stats")
    if st:
        print("units per region at step 0 / last: " + ", ".join(f"{k} {v[0]}/{v[-1]}" for k, v in st.items()))
    if rep.info.get("local_note"):
        print(rep.info["local_note"])
