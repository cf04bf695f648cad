"""``noether claim SPEC --map ... | --conserved ...``: property-test a symmetry claim.

Exit 0: no counterexample within ``--examples``; 1: the claim is false (the shrunk counterexample
is printed); 2: bad input (one line, no traceback).
"""

from __future__ import annotations

from ..claims import Claim, check_claim
from ..errors import SpecError
from ._common import add_hyper_arguments, add_spec, finite_float, hyper_values, load, positive_int
import argparse

HELP = "property-test a claimed symmetry or conservation law; print a shrunk counterexample if false"


def _pair(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be LO,HI (two numbers), got {text!r}") from None
    return lo, hi


def add_arguments(p):
    add_spec(p)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--map", metavar="MAP", help="claimed invariance of the loss, e.g. "
                   "'W1 -> 2*W1; b1 -> 2*b1; W2 -> W2/2' (slices W1[0,:], index lists W1[[1,0],:], "
                   "a free scalar t)")
    g.add_argument("--conserved", metavar="EXPR", help="claimed conserved quantity, e.g. "
                   "'sum(W1[0,:]**2) + b1[0]**2 - sum(W2[:,0]**2)' or parameter symbols W1_0_2")
    p.add_argument("--optimizer", default="gf", help="gf (gradient flow, default) or an optimizer of "
                   "noether.optim (gd, momentum, ...)")
    p.add_argument("--law", metavar="LAW", help="with --optimizer: 'derived' (the derived per-step law of "
                   "the quadratic charge) or C_next - C as an expression in the blocks, g_<block>, "
                   "<state>_<block> and eta (default: C_next = C)")
    p.add_argument("--steps", type=positive_int, default=5, help="optimizer steps per example (default 5)")
    add_hyper_arguments(p)
    p.add_argument("--hyper", action="append", default=[], metavar="NAME=VALUE",
                   help="optimizer hyperparameter by name, e.g. momentum=0.9 (repeatable; the same as its flag)")
    p.add_argument("--examples", type=positive_int, default=100, help="hypothesis examples (default 100)")
    p.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    p.add_argument("--t-range", type=_pair, default=(-1.0, 1.0), metavar="LO,HI",
                   help="range of the free scalar t in --map (default -1,1)")
    p.add_argument("--bound", type=finite_float, default=2.0, help="parameters and data drawn in "
                   "[-bound, bound] (default 2)")


def _hyper(items) -> dict:
    out = {}
    for it in items:
        if "=" not in it:
            raise SpecError("--hyper", f"expected NAME=VALUE, got {it!r}")
        k, v = (s.strip() for s in it.split("=", 1))
        if not k.isidentifier():
            raise SpecError("--hyper", f"bad name {k!r}")
        if v.lower() in ("true", "false"):
            out[k] = v.lower() == "true"
            continue
        try:
            out[k] = float(v)
        except ValueError:
            raise SpecError("--hyper", f"{k} must be a number, got {v!r}") from None
    return out


def run(args) -> int:
    model = load(args)
    claim = Claim(map=args.map, conserved=args.conserved, optimizer=args.optimizer, law=args.law, lr=args.lr,
                  steps=args.steps, hyper=_hyper(args.hyper) | hyper_values(args), t_range=args.t_range, bound=args.bound)
    res = check_claim(model, claim, examples=args.examples, seed=args.seed)
    print(res.report())
    return 0 if res.holds else 1
