"""``noether lmc SPEC A.npz B.npz --data D.npz [--points 25] [--plot FILE.png] [--json]``."""

from __future__ import annotations

from ._common import add_spec, positive_int, print_json
from .align import add_pair, load_pair

HELP = "loss and accuracy along the line between two networks, and its barrier"


def add_arguments(p):
    add_spec(p)
    add_pair(p)
    p.add_argument("--data", metavar="D.npz", required=True, help="data (X, Y)")
    p.add_argument("--points", type=positive_int, default=25, help="evenly spaced alpha values, ends included "
                   "(default 25, at least 2)")
    p.add_argument("--plot", metavar="FILE.png", help="plot loss (and accuracy) against alpha (extra 'plots')")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    from ..align.barrier import interpolate, plot_path
    model, A, B, X, Y = load_pair(args, args.plot, "--plot")
    path = interpolate(model, A, B, X, Y, args.points)
    if args.plot:
        plot_path({"A -> B": path}, args.plot)
    out = path.to_json()
    if args.json:
        print_json(out)
        return 0
    print(model.describe())
    print(" alpha   loss" + ("   accuracy" if path.accuracy is not None else ""))
    for k, a in enumerate(path.alphas):
        print(f" {a:5.3f}  {path.loss[k]:.6g}" + (f"  {path.accuracy[k]:.4f}" if path.accuracy is not None else ""))
    print(f"barrier {out['barrier']:.6g} at alpha = {out['barrier_alpha']:.3f}")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0
