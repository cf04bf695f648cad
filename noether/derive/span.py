"""An exact span of sparse generators, grown one at a time (elimination modulo a prime).

Used to keep independent generators, and to ask whether a generator is new to a span; the
vectors are (vec(A), c) and stay sparse, so this scales with the generators' support, not D².
"""

from __future__ import annotations

import sympy as sp
from sympy import QQ
from sympy.polys.matrices import DomainMatrix

from .generator import Generator
from .linalg import residue
from .modeval import P2 as P


class Span:
    """An exact span of generators, grown one at a time (sparse elimination mod a prime)."""

    def __init__(self, D: int):
        self.D, self.pivots = D, {}

    def add(self, g: Generator) -> bool:
        """Add ``g``; True if it was independent of what is there."""
        return self.add_vector(self._vector(g))

    def contains(self, g: Generator) -> bool:
        """Is ``g`` in the span (nothing is added)?"""
        return self.contains_vector(self._vector(g))

    def snapshot(self) -> Span:
        """The span as it is now, unchanged by later additions here (pivot rows are never
        modified once stored, so the rows are shared)."""
        out = Span(self.D)
        out.pivots = dict(self.pivots)
        return out

    def contains_vector(self, v: dict[int, int]) -> bool:
        """Is the vector (as in :meth:`add_vector`) in the span (nothing is added)?"""
        return not self._reduce(v)

    def add_vector(self, v: dict[int, int]) -> bool:
        """Add the vector {r·D + s (A entry) or D² + r (c entry): residue mod P}; True if new."""
        v = self._reduce(v)
        if not v:
            return False
        c = min(v)
        inv = pow(v[c], P - 2, P)
        self.pivots[c] = {k: x * inv % P for k, x in v.items()}
        return True

    def _vector(self, g: Generator) -> dict[int, int]:
        D = self.D
        return {r * D + s: residue(x, P) for (r, s), x in g.A.items()} | {D * D + r: residue(x, P) for r, x in g.c.items()}

    def _reduce(self, v: dict[int, int]) -> dict[int, int]:
        """``v`` minus its combination of the pivot rows, up to the first entry with no pivot
        (empty: ``v`` is in the span)."""
        pivots = self.pivots
        v = {k: x % P for k, x in v.items() if x % P}
        while v:
            c = min(v)
            if c not in pivots:
                return v
            f = v[c]
            for k, x in pivots[c].items():
                nv = (v.get(k, 0) - f * x) % P
                if nv:
                    v[k] = nv
                else:
                    v.pop(k, None)
        return v


def diagonal_first(gens: list[Generator], D: int) -> list[Generator]:
    """A sparse basis of the same span in which the diagonal fields (scalings: A_rr entries only)
    stand alone: the exact reduced row echelon form over the rationals with the off-diagonal and
    translation entries as leading columns, so the rows whose pivot is a diagonal entry are zero
    on every other entry and span exactly the diagonal fields the algebra contains.  A basis that
    mixes a scaling of every unit with a translation of the logits would make every group element
    one exponential over all parameters; here the scalings form the abelian part and the rest
    small blocks."""
    if not gens:
        return []
    keys = sorted({("c", r) for g in gens for r in g.c} | {("A", r, s) for g in gens for r, s in g.A},
                  key=lambda k: (k[0] == "A" and k[1] == k[2], k))
    col = {k: j for j, k in enumerate(keys)}

    def q(v):
        v = sp.Rational(v)
        return QQ(int(v.p), int(v.q))
    rows = {}
    for i, g in enumerate(gens):
        r = {col[("A", a, b)]: q(v) for (a, b), v in g.A.items()} | {col[("c", a)]: q(v) for a, v in g.c.items()}
        rows[i] = {j: x for j, x in r.items() if x}
    R, piv = DomainMatrix(rows, (len(gens), len(keys)), QQ).rref()
    out = []
    sdm = R.to_sdm()
    for n, i in enumerate(sorted(sdm)):
        g = Generator(f"G{n}", "")
        for j, x in sdm[i].items():
            k = keys[j]
            v = sp.Rational(int(x.numerator), int(x.denominator))
            g.add(k[1], k[2] if k[0] == "A" else None, v)
        g.family = ("F.scaling" if not g.c and all(a == b for a, b in g.A) else
                    "F.translation" if not g.A else "F.linear")
        out.append(g)
    return out


def independent(gens: list[Generator], D: int) -> list[Generator]:
    """A maximal independent subset."""
    span = Span(D)
    return [g for g in gens if span.add(g)]
