"""The pieces of a piecewise activation, read off its sympy expression.

Every kink of σ comes from a ``Max``, ``Min``, ``Abs``, ``Heaviside``, ``sign`` or ``Piecewise``
node: the breakpoints are the real roots of their switching functions (the difference of two
``Max``/``Min`` arguments, the argument of ``Abs``/``Heaviside``/``sign``, ``lhs - rhs`` of a
``Piecewise`` condition).  Between consecutive breakpoints every such node is resolved at the
interval's midpoint, which gives the piece's smooth expression.  Nothing depends on the
activation's name: ``relu`` is only ``Max(z, 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import SpecError
from .catalogue import z
import numpy as np

_KINKED = (sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign, sp.Piecewise)


@dataclass(frozen=True)
class Piece:
    """σ on the open interval (lo, hi) equals ``expr`` (lo = -oo, hi = +oo allowed)."""
    index: int
    lo: sp.Expr
    hi: sp.Expr
    expr: sp.Expr

    @property
    def kind(self) -> str:
        """``dead`` (σ ≡ 0: the unit's output and its gradients vanish), ``bypassed`` (σ(z) = z:
        the unit is linear), else the piece index as a string."""
        if sp.simplify(self.expr) == 0:
            return "dead"
        if sp.simplify(self.expr - z) == 0:
            return "bypassed"
        return str(self.index)

    def condition(self) -> str:
        lo, hi = self.lo, self.hi
        if lo == -sp.oo and hi == sp.oo:
            return "any pre-activation"
        if lo == -sp.oo:
            return f"pre-activations < {hi}"
        if hi == sp.oo:
            return f"pre-activations > {lo}"
        return f"{lo} < pre-activations < {hi}"


def _switches(expr: sp.Expr) -> list[sp.Expr]:
    out = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Max, sp.Min)):
            a = node.args
            out += [a[i] - a[j] for i in range(len(a)) for j in range(i + 1, len(a))]
        elif isinstance(node, (sp.Abs, sp.Heaviside, sp.sign)):
            out.append(node.args[0])
        elif isinstance(node, sp.Piecewise):
            for _, cond in node.args:
                for rel in cond.atoms(sp.core.relational.Relational):
                    out.append(rel.lhs - rel.rhs)
    return out


def breakpoints(expr: sp.Expr) -> list[sp.Expr]:
    """Sorted real breakpoints of σ; refuses σ whose kinks are not finitely many."""
    pts = set()
    for s in _switches(expr):
        if not s.has(z):
            continue
        sol = sp.solveset(sp.Eq(s, 0), z, domain=sp.S.Reals)
        if not isinstance(sol, sp.FiniteSet):
            raise SpecError("activation.fn", f"the kinks of {expr} (where {s} = 0) are not finitely many real "
                            "points; local regions need a piecewise σ with finitely many breakpoints")
        pts |= set(sol)
    return sorted(pts, key=lambda p: float(p))


def _resolve(expr: sp.Expr, at: sp.Expr) -> sp.Expr:
    """Replace every kinked node by its branch at z = ``at`` (inside a piece: no ties)."""
    def val(e):
        # exact: nsimplify here once rounded a breakpoint of 5e-32 to 0 and picked the wrong branch
        return e.subs(z, at)

    def go(e):
        if not e.args or not e.has(*_KINKED):
            return e
        args = [go(a) for a in e.args] if not isinstance(e, sp.Piecewise) else None
        if isinstance(e, (sp.Max, sp.Min)):
            vals = [val(a) for a in args]
            pick = max if isinstance(e, sp.Max) else min
            return args[vals.index(pick(vals))]
        if isinstance(e, sp.Abs):
            return args[0] if val(args[0]) > 0 else -args[0]
        if isinstance(e, sp.Heaviside):
            return sp.Integer(1) if val(args[0]) > 0 else sp.Integer(0)
        if isinstance(e, sp.sign):
            return sp.Integer(1) if val(args[0]) > 0 else sp.Integer(-1)
        if isinstance(e, sp.Piecewise):
            for branch, cond in e.args:
                if bool(cond.subs(z, at)):
                    return go(branch)
            return sp.nan
        return e.func(*args)
    return sp.simplify(go(expr))


def pieces(expr: sp.Expr) -> list[Piece]:
    """The smooth pieces of σ in increasing z; adjacent intervals with the same expression merge.
    A σ with no kink is one piece on the whole line."""
    bps = breakpoints(expr)
    edges = [-sp.oo] + bps + [sp.oo]
    out: list[Piece] = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if lo == -sp.oo and hi == sp.oo:
            mid = sp.Integer(0)
        elif lo == -sp.oo:
            mid = hi - 1
        elif hi == sp.oo:
            mid = lo + 1
        else:
            mid = (lo + hi) / 2
        e = _resolve(expr, mid)
        if e.has(*_KINKED) or e.has(sp.nan):
            raise SpecError("activation.fn", f"cannot resolve {expr} into pieces near z = {mid}")
        if out and sp.simplify(out[-1].expr - e) == 0:
            out[-1] = Piece(out[-1].index, out[-1].lo, hi, out[-1].expr)
        else:
            out.append(Piece(len(out), lo, hi, e))
    return out


def locate(pcs: list[Piece], values) -> tuple[int | None, float]:
    """Which piece holds every value (None: several), and the margin: the least distance from a
    value to the ends of its piece (for one piece) or 0.0."""
    v = np.asarray(values, float)
    for p in pcs:
        lo, hi = float(p.lo), float(p.hi)
        if np.all((v > lo) & (v < hi)):
            m = min(np.min(v - lo) if np.isfinite(lo) else np.inf, np.min(hi - v) if np.isfinite(hi) else np.inf)
            return p.index, float(m)
    return None, 0.0


