"""An exact span of sparse generators, grown one at a time (elimination modulo a prime).

Used to keep independent generators, and to ask whether a generator is new to a span; the
vectors are (vec(A), c) and stay sparse, so this scales with the generators' support, not D².
"""

from __future__ import annotations

from .generator import Generator
from .global_exact import P2 as P, _res


class Span:
    """An exact span of generators, grown one at a time (sparse elimination mod a prime)."""

    def __init__(self, D: int):
        self.D, self.pivots = D, {}

    def add(self, g: Generator) -> bool:
        """Add ``g``; True if it was independent of what is there."""
        D = self.D
        v = {}
        for (r, s), x in g.A.items():
            v[r * D + s] = _res(x, P)
        for r, x in g.c.items():
            v[D * D + r] = _res(x, P)
        return self.add_vector(v)

    def add_vector(self, v: dict[int, int]) -> bool:
        """Add the vector {r·D + s (A entry) or D² + r (c entry): residue mod P}; True if new."""
        pivots = self.pivots
        v = {k: x % P for k, x in v.items() if x % P}
        while v:
            c = min(v)
            if c not in pivots:
                inv = pow(v[c], P - 2, P)
                pivots[c] = {k: x * inv % P for k, x in v.items()}
                return True
            f = v[c]
            for k, x in pivots[c].items():
                nv = (v.get(k, 0) - f * x) % P
                if nv:
                    v[k] = nv
                else:
                    v.pop(k, None)
        return False


def independent(gens: list[Generator], D: int) -> list[Generator]:
    """A maximal independent subset."""
    span = Span(D)
    return [g for g in gens if span.add(g)]
