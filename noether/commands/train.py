"""``noether train SPEC``: a training run on the generated kernels with teleports / balancing;
exit 0 when every law held between interventions and every intervention kept the loss, 1 otherwise."""

from __future__ import annotations

import argparse

from ..errors import SpecError
from ..local import local_symmetries
from ..local_laws import closed_law, local_report
from ..optim import make_rule
from ..run.params import save_params
from ..train import intervention_steps, train
from ._common import add_optimizer_arguments, finite_float, hyper_values, positive_int, print_json
from .teleport import add_shared, checked_setup
from .verify import print_local

HELP = "train with the generated kernels, teleporting or balancing along the symmetry group"


def _steps_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated step numbers, got {text!r}") from None


def add_arguments(p):
    add_shared(p, "write the final parameters (and the loss curve) atomically")
    add_optimizer_arguments(p)
    p.add_argument("--steps", type=positive_int, default=200, help="steps (default 200)")
    p.add_argument("--teleport-at", type=_steps_list, default=[], metavar="K1,K2", help="teleport before these steps")
    p.add_argument("--teleport-every", type=positive_int, default=None, metavar="K", help="teleport every K steps")
    p.add_argument("--teleport-steps", type=positive_int, default=10, help="ascent steps per teleport (default 10)")
    p.add_argument("--balance-every", type=positive_int, default=None, metavar="K", help="balance the scalings at steps 0, K, 2K, ...")
    p.add_argument("--target-loss", type=finite_float, default=None, help="stop when the loss reaches this")
    p.add_argument("--local", action="store_true",
                   help="also check the local laws of the starting point's regions until each region breaks")
    p.add_argument("--region-plot", metavar="FILE.png", default=None, help="with --local: units per region against the step")


def run(args) -> int:
    rule = make_rule(args.optimizer, lr=args.lr, **hyper_values(args))
    if args.region_plot and not args.local:
        raise SpecError("--region-plot", "is used with --local only")
    if args.local:
        closed_law(rule)                            # refused before any work
    s = checked_setup(args)
    model = s.model
    local = local_symmetries(model, s.theta, s.X, seed=args.seed, count=False) if args.local else None
    iv = intervention_steps(args.steps, args.teleport_at, args.teleport_every, args.balance_every)
    res = train(s, rule, args.steps, iv, args.objective, args.teleport_steps, args.target_loss, args.seed,
                teleport_step_size=args.teleport_lr, keep_runs=args.local)
    if args.out:
        save_params(model, args.out, res.theta, loss=res.losses, seconds=res.times)
    rep = None
    if args.local and res.runs:
        rep = local_report(model, local, rule, res.runs, s.X, args.region_plot)
    if res.diverged_at is not None:
        saved = f"; the parameters before it saved to {args.out}" if args.out else ""
        raise SpecError("--lr", f"{rule.name} diverged: a non-finite update at step {res.diverged_at} with "
                        f"lr={args.lr}{saved}; use a smaller --lr")
    ok = res.ok and (rep is None or rep.ok)
    if args.json:
        print_json(res.to_json() | ({"local": rep.to_json()} if rep is not None else {}) | {"ok": ok})
    else:
        print(f"{res.steps_run} steps in {res.seconds:.3g} s, final loss {res.final_loss:.6g}"
              + (f", target reached at step {res.steps_to_target}" if res.steps_to_target is not None else ""))
        for t in res.teleports:
            jump = max((abs(v) for v in t["charge_jump"].values()), default=0.0)
            print(f"  step {t['step']}: {t['kind']} {t['objective']} {t['objective_before']:.4g} -> "
                  f"{t['objective_after']:.4g}, loss {t['loss_before']:.6g} -> {t['loss_after']:.6g}, "
                  f"max |charge jump| {jump:.3g}")
        for n in res.notes:
            print(f"  note: {n}")
        print(f"law residual max {res.law_max_residual:.2e} (tolerance 1e-10)" if res.law_checked
              else "laws: this optimizer has no closed law; not checked")
        if rep is not None:
            print("local laws (the regions of the starting point; a teleport step is not a law step):")
            print_local(rep)
            print(rep.verdict)
        print("ok" if ok else "FAILED")
    return 0 if ok else 1
