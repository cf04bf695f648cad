"""``noether count SPEC``: how many independent conservation laws the training flow has, and
whether the derived charges are all of them (Marcotte, Gribonval, Peyré, NeurIPS 2023 and
ICML 2024).  Exit codes: 0 a confident count; 3 no confident count (no clear singular-value
gap, points disagree, or no generic point found) or an internal contradiction (more derived
charges than laws: a bug, reported as such); 2 bad input, or a model too large for the memory
that is free (said before any work).
"""

from __future__ import annotations

import json
import sys

import numpy as np

from ..errors import InternalContradiction, SpecError
from ..completeness.count import pinned_units
from ..completeness.exact import MAX_EXACT_D, ExactNet, exact_point, to_float
from ..completeness.count import count_laws
from ..model import Model
from ..completeness.exact import exact_lie_rank
from ..completeness.count import Net, available_bytes, estimate_bytes, make_net, n_samples
from ..completeness.polysearch import search
from ..completeness.ball import certify, plan
from ..completeness.count import polynomial_pieces
import os

HELP = "count all conservation laws (D - dim Lie of the gradient fields) and compare with the derived charges"

EXIT_UNCONFIDENT = 3


def add_arguments(parser):
    parser.add_argument("spec", metavar="SPEC", help="model spec (TOML)")
    parser.add_argument("--flow", choices=["gradient", "momentum"], default="gradient",
                        help="gradient flow, or heavy-ball momentum lifted to (t, θ, θ̇)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--degree", type=int, default=None, metavar="K",
                        help="also search exactly for polynomial conserved functions of degree <= K "
                             "(tiny polynomial / ReLU-type models, gradient flow)")
    parser.add_argument("--exact", action="store_true",
                        help="prove the count: exact rational arithmetic for tiny polynomial models, else ball "
                             "arithmetic (python-flint) at one point, between the derived charges and the fields' rank")
    parser.add_argument("--points", type=int, default=3, help="random points to read ranks at (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the numpy Generator (default 0)")
    parser.add_argument("--gamma", type=float, default=1.0, help="friction γ of the momentum flow (default 1)")


def _exact_point(model, seed: int):

    en = ExactNet(model)
    rng = np.random.default_rng(seed)
    P = max(8, 2 * en.D // max(1, en.net.k) + 8)
    for _ in range(60):
        theta0, xs = exact_point(en, model, rng, P)
        thf, Xf = to_float(theta0, xs)
        if not pinned_units(en.net, thf, Xf):
            return en, theta0, xs
    return en, theta0, xs


def run(args) -> int:

    model = Model.load(args.spec)
    if args.points < 1:
        raise SpecError("--points", f"must be a positive integer, got {args.points}")
    if args.degree is not None and args.degree < 1:
        raise SpecError("--degree", f"must be a positive integer, got {args.degree}")
    if args.degree is not None and args.flow != "gradient":
        raise SpecError("--degree", "the polynomial search is implemented for --flow gradient only")
    if args.exact and args.flow != "gradient":
        raise SpecError("--exact", "exact confirmation is implemented for --flow gradient only")
    bad = Net.unsupported(model)
    if args.degree is not None and bad is not None:
        raise SpecError("--degree", f"the polynomial search supports linear and elementwise activation layers "
                        f"only, not layer[{bad}] ({model.layers[bad].describe()}); the float count runs without it")
    rational = args.exact and polynomial_pieces(model) and model.D <= MAX_EXACT_D
    # a certificate too large is refused before the count runs
    planned = plan(model) if args.exact and not rational else None
    try:
        res = count_laws(model, flow=args.flow, points=args.points, seed=args.seed, gamma=args.gamma)
    except MemoryError:
        # the certain part fitted (checked up front); the bracket jets did not

        net = make_net(model, args.flow)
        n = net.D if args.flow == "gradient" else 2 * net.D + 1
        _, upper = estimate_bytes(net, n, n_samples(net, n))
        raise SpecError("model", f"out of memory while bracketing (D = {net.D}; the first bracket level may "
                        f"need up to {upper / 2**30:.1f} GiB, {available_bytes() / 2**30:.1f} GiB is available)")
    except InternalContradiction as exc:
        sys.stderr.write(f"noether: error: {exc}\n")
        return EXIT_UNCONFIDENT
    out = res.to_json()
    out["points_evaluated"] = len(res.points)
    out["points"] = out.pop("points")
    if rational or args.degree is not None:

        en, theta0, xs = _exact_point(model, args.seed)
        if rational:
            er = exact_lie_rank(en, theta0, xs)
            out["exact"] = {"method": "rational arithmetic, every bracket level", "lie_dim": er.lie_dim,
                            "laws": er.laws, "ranks": er.ranks, "seconds": er.seconds,
                            "agrees": er.laws == res.laws}
        if args.degree is not None:

            pl = search(en, theta0, xs, args.degree)
            out["polynomial_laws"] = {"degree": pl.degree, "found": pl.n_found,
                                      "independent": pl.n_independent,
                                      "polynomials": [str(p) for p in pl.polynomials]}
    contradiction = None
    if args.exact and not rational:
        cert = certify(model, res.deriv, seed=args.seed, planned=planned)
        out["exact"] = dict(cert.to_json(), agrees=cert.laws is not None and cert.laws == res.laws)
        if cert.laws_upper < cert.laws_lower:
            contradiction = (f"the fields have certified rank {model.D - cert.laws_upper}, but "
                             f"{cert.laws_lower} derived charges leave room for {model.D - cert.laws_lower}")
    confident = res.clear and res.laws is not None
    if args.exact and not out["exact"]["agrees"]:
        confident = False      # asked for a proof and did not get one: not a confident count
    if res.derived is not None and res.laws is not None and res.clear and "exact" in out \
            and out["exact"]["laws"] is not None and out["exact"]["laws"] < res.derived:
        contradiction = f"exact count {out['exact']['laws']} < {res.derived} derived charges"
    if contradiction:
        sys.stderr.write(f"noether: error: {InternalContradiction(contradiction)}\n")
        return EXIT_UNCONFIDENT
    try:
        if args.json:
            print(json.dumps(out, indent=2, default=float))
        else:
            _print_text(res, out)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader (e.g. `| head`) closed the pipe: stop quietly, and keep Python's exit-time
        # flush of stdout from raising again

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0 if confident else EXIT_UNCONFIDENT


def _print_text(res, out) -> None:
    w = sys.stdout.write
    w(f"{res.model}: D = {res.parameters}, flow = {res.flow}, state dimension {res.state_dim}, "
      f"{res.samples} inputs per point\n")
    for i, p in enumerate(res.points):
        w(f"  point {i}: dim V_k = {p.ranks} -> dim Lie = {p.lie_dim}, laws {p.laws}; "
          f"gap {p.gap:.1e} (kept >= {p.sigma_kept:.1e}, dropped <= {p.sigma_dropped:.1e}), {p.seconds:.2f} s"
          + (", closed by the derived charges' bound" if p.closed_by == "derived bound" else "") + "\n")
    if res.laws is None:
        w("laws: no generic count\n")
    elif res.clear:
        w(f"laws: {res.laws} (= {res.state_dim} - dim Lie {res.lie_dim})\n")
    else:
        w(f"laws: NOT CONFIDENT (best reading {res.laws}; see notes)\n")
    if res.derived is None:
        w(f"derived: unavailable ({res.derived_source})\n")
    else:
        w(f"derived: {res.derived} independent charges [{res.derived_source}]\n")
        if res.laws is not None and res.clear:
            if res.complete:
                w("complete: yes, the derived charges are all the conservation laws\n")
            else:
                w(f"complete: no, {res.laws - res.derived} law(s) not explained by linear symmetries\n")
    for p in res.local:
        units = ", ".join(f"{u['name']} ({u['kind']})" for u in p.pinned)
        w(f"local (non-generic random point): {units}: {p.laws} laws, {p.extra_laws:+d} beyond the "
          f"architecture" + (f"; conserved coordinates {', '.join(p.frozen[:8])}"
                             + (" ..." if len(p.frozen) > 8 else "") if p.frozen else "") + "\n")
    if "exact" in out and "ranks" in out["exact"]:
        e = out["exact"]
        w(f"exact (QQ): dim V_k = {e['ranks']} -> laws {e['laws']} "
          f"({'agrees' if e['agrees'] else 'DISAGREES'}), {e['seconds']:.2f} s\n")
    elif "exact" in out:
        e = out["exact"]
        if e["laws"] is not None:
            w(f"exact (ball arithmetic, {e['precision_bits']} bits): {e['laws_lower']} derived charges independent "
              f"over QQ, fields and {e['bracket_levels']} bracket level(s) of certified rank "
              f"{res.parameters - e['laws_upper']} -> laws {e['laws']} "
              f"({'agrees' if e['agrees'] else 'DISAGREES'}), {e['seconds']:.2f} s\n")
        else:
            w(f"exact (ball arithmetic): NOT CERTIFIED, laws between {e['laws_lower']} (the derived charges, "
              f"exact) and {e['laws_upper']} (D - the rank proved on the fields and {e['bracket_levels']} "
              f"bracket level(s)), {e['seconds']:.2f} s\n")
    if "polynomial_laws" in out:
        pl = out["polynomial_laws"]
        w(f"polynomial laws of degree <= {pl['degree']}: {pl['found']} found, "
          f"{pl['independent']} functionally independent\n")
        for s in pl["polynomials"]:
            w(f"  {s}\n")
    for note in res.notes:
        w(f"note: {note}\n")
    w(f"time: {res.seconds:.2f} s\n")
