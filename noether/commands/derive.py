"""``noether derive SPEC [--json] [--latex]``."""

from __future__ import annotations

import sympy as sp

from ..derive.derivation import derive
from ._common import add_spec, load, print_json

HELP = "derive the symmetry algebra, charges, Noether charges and laws of a model"


#: noether.derive.METHODS by name, spelled out so that --help does not import the derivation
#: (tests/test_derive.py checks they agree)
METHOD_NAMES = ("auto", "interface", "global", "structured")


def add_arguments(p):
    add_spec(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--latex", action="store_true", help="print formulas as LaTeX")
    p.add_argument("--seed", type=int, default=0, help="seed of the generic point for ranks (default 0)")
    p.add_argument("--method", choices=METHOD_NAMES, default="auto",
                   help="auto: per-interface for MLPs under MSE, else the structured search (certified); or "
                        "force one; global: the exact global search, up to 64 parameters (default auto)")


def run(args) -> int:
    model = load(args)
    d = derive(model, seed=args.seed, method=args.method)
    if args.json:
        print_json(d.to_json())
        return 0
    print(text_report(d, latex=args.latex))
    return 0


#: A charge with more terms than this is printed as its first terms and a count (--json has it all).
SHOWN_TERMS = 12


def _abbreviated(expr, fmt) -> str:
    """``fmt(expr)``, or for a sum of more than SHOWN_TERMS terms its first ones and the count
    (printing a 5000-term sum takes seconds and helps no reader)."""
    if not isinstance(expr, sp.Add) or len(expr.args) <= SHOWN_TERMS:
        return fmt(expr)
    head = sorted(expr.args[:4 * SHOWN_TERMS], key=sp.default_sort_key)[:SHOWN_TERMS]
    return f"{fmt(sp.Add(*head))} + ... ({len(expr.args)} terms; all of them in --json)"


def text_report(d, latex: bool = False) -> str:
    m = d.model
    fmt = (lambda e: sp.latex(e)) if latex else (lambda e: str(e))
    out = [m.describe(), ""]
    out.append(f"Symmetry algebra: dim {d.dim if d.dim is not None else 'n/a (families only)'}, "
               f"orbit rank {d.orbit_rank if d.orbit_rank is not None else 'n/a'}")
    search = d.extra.get("search", {})
    if search:
        out.append(f"  found by the {search['method']}")
        for f in search.get("structured", {}).get("families", []):
            out.append(f"  family {f['name']}: {f['count']} per choice of marks; e.g. {f['first']}")
    for itf in d.algebra.interfaces:
        out.append(f"  interface {itf.name}: sigma(z) = {itf.sigma}, width {itf.h}, absorbed by "
                   f"{itf.right.W if itf.right is not None else 'the loss'} [{itf.sol.method}]")
    for f in d.algebra.families:
        g = f.instance(f.index_sets()[0])
        out.append(f"  family {f.name}: {f.count} generators, {f.describe()}, "
                   f"{'gradient field' if g.is_gradient else 'not a gradient field'}")
        for k, v in d.family_field(f).items():
            out.append(f"      d{k} = {v}")
    out.append("")
    out.append("Conserved charges of gradient flow: not built at this size (see the notes)" if d.n_charges is None else
               f"Conserved charges of gradient flow: {d.n_charges}"
               + (f" ({d.n_independent_charges} functionally independent)" if d.n_independent_charges is not None else ""))
    for cf in d.charge_families:
        idx = "i" if cf.kind == "unit" else "i<j"
        out.append(f"  {cf.name}[{idx}] ({cf.count}):  {fmt(cf.indexed(cf.terms[0][1].itf))}")
    if d.charges:
        for c in d.charges:
            if ".mixed" in c.family:
                out.append(f"  {c.name}:  {_abbreviated(c.expr, fmt)}")
    out.append("")
    out.append("Discrete symmetries:")
    for s in d.discrete:
        out.append(f"  {s['kind']} on {s['interface']} (order {s['order']}): {s['action']}")
    if not d.discrete:
        out.append("  none")
    out.append("")
    law = d.law("gd")
    out.append("Exact per-step law under GD (B(u,v) = u^T A v of the charge, X(theta).g = 0 used):")
    out.append("  " + (law.latex() if latex else law.pretty()))
    b = d.bregman
    out.append("")
    out.append("Bregman Lagrangian  L = exp(gamma t) (|thetadot|^2 / (2 eta) - gamma V(theta)):")
    out.append(f"  Euler-Lagrange: {fmt(b.el_equation)}")
    out.append(f"  Noether charge: Q = {fmt(b.charge)}")
    out.append(f"  dQ/dt = {fmt(b.source_expr)}  (0 exactly when A is antisymmetric)")
    for note in d.notes + d.algebra.notes:
        out.append(f"note: {note}")
    return "\n".join(out)
