"""Generator families of the per-interface method: one per solution vector of an interface.

Families are the width-independent description; their explicit instances are built only when
the model is small enough (:data:`EXPLICIT_LIMIT`).  The count of every family is exact at any
width.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..algebra import Algebra
from ..generator import Generator
from .interfaces import Interface, interfaces

#: Build explicit generators only below this many nonzero coefficients in total.
EXPLICIT_LIMIT = 2_000_000


@dataclass
class Family:
    """All generators of one kind on one interface, e.g. one rescaling per hidden unit."""

    name: str
    itf: Interface
    kind: str             # unit | pair | pair-tied | unit-tied
    vector: tuple

    @property
    def count(self) -> int:
        h = self.itf.h
        return {"unit": h, "unit-tied": h if h >= 2 else 0, "pair": h * (h - 1),
                "pair-tied": h * max(h - 2, 0)}[self.kind]

    def _ref(self, i: int) -> int:
        h = self.itf.h
        return h - 1 if i != h - 1 else h - 2

    def comps(self, i, j=None):
        itf, v = self.itf, self.vector
        if self.kind == "unit":
            return itf.unit_comps(v, i)
        if self.kind == "pair":
            return itf.pair_comps(v, i, j)
        if self.kind == "pair-tied":
            neg = tuple(-x for x in v)
            return itf.pair_comps(v, i, j) + itf.pair_comps(neg, i, self._ref(i))
        # unit-tied: (m, c, p, d̃, s) with s * tied_pair on (i, ref(i))
        t = tuple(v[4] * x for x in itf.tied_pair)
        return itf.unit_comps(v[:4], i) + itf.pair_comps(t, i, self._ref(i))

    def index_sets(self):
        h = self.itf.h
        if self.kind in ("unit", "unit-tied"):
            return [(i,) for i in range(h)] if self.count else []
        if self.kind == "pair":
            return [(i, j) for i in range(h) for j in range(h) if i != j]
        return [(i, j) for i in range(h) for j in range(h) if j not in (i, self._ref(i))]

    def label(self, idx) -> str:
        return f"{self.name}[{','.join(map(str, idx))}]"

    def instance(self, idx) -> Generator:
        return self.itf.generator(self.comps(*idx), self.label(idx), self.name)

    def instances(self):
        for idx in self.index_sets():
            yield self.instance(idx)

    def support_size(self) -> int:
        L, R = self.itf.left, self.itf.right
        per = L.in_dim + 1 + (R.out * 2 if R is not None else 0)
        return per * (2 if self.kind in ("pair-tied", "unit-tied") else 1)

    def describe(self) -> str:
        names = {"unit": "(M,c,P,d~)", "unit-tied": "(M,c,P,d~,s)", "pair": "(M_ij,P_ij)",
                 "pair-tied": "(M_ij,P_ij)-(M_ir,P_ir)"}
        return f"{self.kind} {names[self.kind]} = {tuple(str(x) for x in self.vector)}"


def build_algebra(model) -> Algebra:
    itfs = interfaces(model)
    fams: list[Family] = []
    for itf in itfs:
        for a, v in enumerate(itf.unit):
            fams.append(Family(f"{itf.name}.unit{a}", itf, "unit", v))
        for b, w in enumerate(itf.pair):
            fams.append(Family(f"{itf.name}.pair{b}", itf, "pair", w))
        if itf.tied_pair is not None:
            fams.append(Family(f"{itf.name}.tied", itf, "pair-tied", itf.tied_pair))
            for a, v in enumerate(itf.tied_unit):
                fams.append(Family(f"{itf.name}.tiedunit{a}", itf, "unit-tied", v))
    fams = [f for f in fams if f.count > 0]
    alg = Algebra(model, itfs, fams)
    nnz = sum(f.count * f.support_size() for f in fams)
    if nnz <= EXPLICIT_LIMIT:
        alg.generators = [g for f in fams for g in f.instances()]
    else:
        alg.notes.append(f"explicit generators not built ({nnz} coefficients > {EXPLICIT_LIMIT}); "
                         "families and counts are exact")
    return alg


