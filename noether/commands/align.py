"""``noether align SPEC A.npz B.npz [--data D.npz] [--method weight|activation] [--modulo
permutation|group] [--out B_ALIGNED.npz] [--json]``."""

from __future__ import annotations

from ._common import add_spec, load, positive_int, print_json
from ..align import load_parameters
from ..errors import SpecError
from ..run.data import load_data
import os
from ..align import align, save_parameters

HELP = "permute (and canonicalise) network B to match network A over the derived symmetries"


def add_pair(p) -> None:
    """The two parameter files and the data, shared with ``lmc``."""
    p.add_argument("a", metavar="A.npz", help="parameters of network A (theta, parameters)")
    p.add_argument("b", metavar="B.npz", help="parameters of network B")


def load_pair(args, out_path: str | None, out_field: str):
    """(model, θ_A, θ_B, X, Y), after refusing an output path with no folder (nothing computed yet)."""
    model = load(args)
    check_out(out_path, out_field)
    A = load_parameters(model, args.a, "A.npz")
    B = load_parameters(model, args.b, "B.npz")
    X = Y = None
    if getattr(args, "data", None):
        X, Y = load_data(model, args.data)
        if len(X) == 0:
            raise SpecError("--data", "X has no samples")
    return model, A, B, X, Y


def check_out(path: str | None, field: str) -> None:
    """Refuse an output path whose folder is missing before any work is done."""

    if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path)) or "."):
        raise SpecError(field, f"folder of {path!r} does not exist")


def add_arguments(p):
    add_spec(p)
    add_pair(p)
    p.add_argument("--data", metavar="D.npz", help="data (X, Y): activation matching and the barriers")
    p.add_argument("--method", choices=("weight", "activation"), default="weight",
                   help="weight matching (default) or activation matching (needs --data)")
    p.add_argument("--modulo", choices=("permutation", "group"), default="permutation",
                   help="group: first bring both nets to the canonical point of their orbit under the derived "
                   "rescalings and the GL of linear blocks")
    p.add_argument("--restarts", type=positive_int, default=1, help="weight-matching runs: the first in model "
                   "order from matched neighbours, the others in seeded random axis orders (default 1)")
    p.add_argument("--points", type=positive_int, default=25, help="alpha values for the barriers (default 25)")
    p.add_argument("--seed", type=int, default=0, help="seed of restarts and checks (default 0)")
    p.add_argument("--out", metavar="B_ALIGNED.npz", help="write aligned B (theta, parameters)")
    p.add_argument("--json", action="store_true", help="machine-readable output (JSON)")


def run(args) -> int:
    model, A, B, X, Y = load_pair(args, args.out, "--out")
    res = align(model, A, B, X, Y, method=args.method, modulo=args.modulo, seed=args.seed,
                restarts=args.restarts, points=max(args.points, 2))
    if args.out:
        save_parameters(model, args.out, res.theta)
    out = res.to_json()
    if args.json:
        print_json(out)
        return 0
    print(f"{model.describe()}\n{args.method} matching modulo {args.modulo}: {out['seconds']:.3f} s")
    for name, perm in out["permutations"].items():
        moved = sum(i != p for i, p in enumerate(perm))
        print(f"  {name}: {moved} of {len(perm)} units moved")
    if "group" in out:
        g = out["group"]
        print(f"  quotiented {g['quotiented_dim']} of {g['algebra_dim']} algebra dimensions"
              + "".join(f"; GL({b['n']}) on {b['axis']}" for b in g["gl_blocks"]))
    print(f"  distance |A - B| {out['distance_before']:.6g} -> {out['distance_after']:.6g}")
    if out["barrier_before"] is not None:
        print(f"  barrier {out['barrier_before']:.6g} -> {out['barrier_after']:.6g}")
    print(f"  max output change of B (relative): {out['max_output_change']:.2e}")
    if args.out:
        print(f"wrote {args.out}")
    return 0
