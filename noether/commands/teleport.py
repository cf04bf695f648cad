"""``noether teleport SPEC``: move parameters along the derived symmetry orbit (same loss) to
improve an objective; exit 0 ok, 1 the loss moved past rounding or the objective got worse, 2 bad input."""

from __future__ import annotations

from ..run.datasets import DATASETS
from ._common import add_spec, finite_float, positive_int, print_json

HELP = "teleport parameters along the symmetry group: grad_norm_max/min, balance, sharpness_min"


def add_shared(p, out_help: str) -> None:
    """The arguments ``teleport`` and ``train`` share: spec, data, parameters, objective, output."""
    add_spec(p)
    p.add_argument("--params", metavar="IN.npz", help="parameters (parameters, theta) or a trajectory file "
                   "(its last completed row); default: the seeded initialisation")
    p.add_argument("--data", metavar="D.npz", help="data with arrays X, Y")
    p.add_argument("--dataset", metavar="NAME", help="a named data set, generated or loaded offline: "
                   + ", ".join(DATASETS) + " (one-hot targets; the spec's input and output must match)")
    p.add_argument("--objective", default="grad_norm_max",
                   help="grad_norm_max (default), grad_norm_min, balance, sharpness_min")
    p.add_argument("--action", default="linear",
                   help="group action: linear (default, the derived algebra) or nonlinear (Zhao et al. 2023, teleport only)")
    p.add_argument("--teleport-lr", type=finite_float, default=0.1,
                   help="largest move per ascent step, as |t| in Lie-algebra coordinates (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed for random data/parameters (default 0)")
    p.add_argument("--samples", type=positive_int, default=32, help="random samples without --data (default 32)")
    p.add_argument("--out", metavar="OUT.npz", help=out_help)
    p.add_argument("--cache", metavar="DIR", help="kernel cache folder")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def checked_setup(args):
    """Validate the shared choices, then :func:`noether.teleport.prepare`."""
    from ..errors import SpecError
    from ..model import Model
    from ..teleport import OBJECTIVES, prepare
    if args.objective not in OBJECTIVES:
        raise SpecError("--objective", f"accepted: {', '.join(OBJECTIVES)}; got {args.objective!r}")
    actions = ("linear", "nonlinear") if hasattr(args, "layer") else ("linear",)   # train: linear only
    if args.action not in actions:
        raise SpecError("--action", f"accepted: {', '.join(actions)}; got {args.action!r}")
    if not (args.teleport_lr > 0):
        raise SpecError("--teleport-lr", f"must be > 0, got {args.teleport_lr}")
    model = Model.load(args.spec)
    return prepare(model, args.data, args.dataset, args.params, args.seed, args.samples, args.cache)


def add_arguments(p):
    add_shared(p, "write the teleported parameters (atomically)")
    p.add_argument("--steps", type=positive_int, default=10, help="ascent steps / balancing sweeps (default 10)")
    p.add_argument("--layer", type=positive_int, default=1,
                   help="--action nonlinear: the linear layer whose hidden interface moves (default 1)")
    p.add_argument("--batch", type=positive_int, default=None,
                   help="--action nonlinear: seeded batch size <= width (default: the width); the rest is held out")


def run(args) -> int:
    from ..errors import SpecError
    from ..run.params import save_params
    from ..teleport import teleport
    from ..teleport_nonlinear import teleport_nonlinear
    if args.action == "linear" and args.batch is not None:
        raise SpecError("--batch", "is used with --action nonlinear only")
    s = checked_setup(args)
    model = s.model
    if args.action == "nonlinear":
        res = teleport_nonlinear(model, s.kernels, s.theta, s.X, s.Y, args.objective, args.steps, args.seed,
                                 args.layer, args.batch, step_size=args.teleport_lr)
    else:
        res = teleport(s.kernels, s.action, s.theta, s.X, s.Y, args.objective, args.steps, args.seed,
                       args.action, step_size=args.teleport_lr)
    if args.out:
        save_params(model, args.out, res.theta)
    if args.json:
        print_json(res.to_json())
        return 0 if res.ok else 1
    for n in res.notes:
        print(n)
    if args.action == "nonlinear":
        r = res.to_json()
        print(f"{args.objective} on the batch: {res.objective_before:.6g} -> {res.objective_after:.6g} in "
              f"{res.steps_taken} steps of g = exp(T), T in gl({res.g.shape[0]}) (layer {args.layer})")
        print(f"batch loss ({r['batch']} samples) {res.batch_loss_before:.17g} -> {res.batch_loss_after:.17g} "
              f"(relative change {res.rel_batch_loss_change:.2e}, rounding bound {res.loss_rtol:.1e})")
        if res.heldout_loss_before is not None:
            print(f"held-out loss ({len(s.X) - r['batch']} samples) {res.heldout_loss_before:.6g} -> "
                  f"{res.heldout_loss_after:.6g}")
        print("ok" if res.ok else "FAILED: the batch loss moved past the rounding bound or the objective got worse")
        return 0 if res.ok else 1
    print(f"{args.objective}: {res.objective_before:.6g} -> {res.objective_after:.6g} "
          f"in {res.steps_taken} steps of a {s.action.dim}-dim algebra")
    print(f"loss {res.loss_before:.17g} -> {res.loss_after:.17g} (relative change {res.rel_loss_change:.2e})")
    print("ok" if res.ok else "FAILED: the loss moved past float64 rounding or the objective got worse")
    return 0 if res.ok else 1
