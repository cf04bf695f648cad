"""Conserved charges of gradient flow (docs/theory.md §3), family by family.

A generator X = Aθ + c is a gradient field iff A is symmetric; then C = ½θᵀAθ + cᵀθ is
conserved under θ̇ = −η∇L because ∇C·∇L = X·∇L = 0.  Within each interface the engine solves
for the combinations of its generators whose A is symmetric (an exact null space of the
antisymmetric parts at a representative instance), then lifts them to every unit / unit pair.
Each charge is normalised to a primitive integer polynomial, first coefficient positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .algebra import Algebra
from .generator import Generator
from .linalg import rational_null

i_, j_, k_ = sp.symbols("i j k", integer=True, nonnegative=True)


@dataclass
class ChargeFamily:
    name: str
    kind: str                       # unit | pair (unordered, i < j)
    terms: list[tuple]              # [(coef, Family, positions)]: instance at tuple(idx[p] for p in positions)
    kappa: sp.Expr                  # normalisation
    h: int

    @property
    def count(self) -> int:
        return self.h if self.kind == "unit" else self.h * (self.h - 1) // 2

    def index_sets(self):
        if self.kind == "unit":
            return [(i,) for i in range(self.h)]
        return [(i, j) for i in range(self.h) for j in range(i + 1, self.h)]

    def generator(self, idx) -> Generator:
        parts = [(coef, fam.instance(tuple(idx[p] for p in pos))) for coef, fam, pos in self.terms]
        return Generator.combine(parts, f"{self.name}[{','.join(map(str, idx))}]", self.name)

    def comps(self, idx):
        acc: dict = {}
        for coef, fam, pos in self.terms:
            for comp in fam.comps(*(idx[p] for p in pos)):
                acc[comp[:-1]] = acc.get(comp[:-1], 0) + coef * comp[-1]
        return [key + (val,) for key, val in acc.items() if sp.simplify(val) != 0]

    def generator_names(self, idx) -> str:
        return " + ".join(f"{c}*{fam.label(tuple(idx[p] for p in pos))}" for c, fam, pos in self.terms)

    def indexed(self, itf) -> sp.Expr:
        """The charge as an indexed block formula in the free unit index i (and j)."""
        idx = (i_,) if self.kind == "unit" else (i_, j_)
        return sp.expand(self.kappa * indexed_potential(itf, self.comps(idx)))


def indexed_potential(itf, comps) -> sp.Expr:
    """C = ½ θᵀAθ + cᵀθ for the lifted generator, as sums over indexed blocks."""
    L, R = itf.left, itf.right
    W, n = sp.IndexedBase(L.W), L.in_dim
    b = sp.IndexedBase(L.b) if L.bias else None
    half = sp.Rational(1, 2)
    expr = sp.Integer(0)
    for comp in comps:
        kind, val = comp[0], comp[-1]
        if val == 0:
            continue
        if kind == "M":
            a, c = comp[1], comp[2]
            expr += half * val * sp.Sum(W[a, k_] * W[c, k_], (k_, 0, n - 1))
            if b is not None:
                expr += half * val * b[a] * b[c]
        elif kind == "c":
            expr += val * b[comp[1]]
        elif kind == "P":
            U, m = sp.IndexedBase(R.W), R.out
            a, c = comp[1], comp[2]
            expr -= half * val * sp.Sum(U[k_, c] * U[k_, a], (k_, 0, m - 1))
        elif kind == "d":
            raise ValueError("a field with a d-component is not a gradient field")
    return expr


def _antisym_vector(gens: list[Generator]):
    keys = sorted(set().union(*(g.antisymmetric_part().keys() for g in gens)))
    return [[g.antisymmetric_part().get(k, 0) for g in gens] for k in keys]


def normaliser(terms: dict[tuple, sp.Expr]) -> sp.Expr:
    """1/content with the sign of the leading term, for a charge given by its monomial
    coefficients (:meth:`Generator.potential_terms`): the charge is then printed primitive with a
    positive leading coefficient.  Leading: the lex-largest exponent vector in parameter order
    (the sentinel orders a monomial after the ones that extend it)."""
    lead = terms[min(terms, key=lambda mon: tuple((i, -e) for i, e in mon) + ((float("inf"), 0),))]
    content = sp.gcd_list([sp.Rational(c) for c in terms.values()])
    return sp.sign(lead) / abs(content)


def _normaliser(expr: sp.Expr, symbols) -> sp.Expr:
    """:func:`normaliser` of a polynomial expression in ``symbols`` (read from its expanded terms:
    ``sp.Poly`` in ~1000 parameters recurses once per generator and overflows the stack)."""
    idx = {s: i for i, s in enumerate(symbols)}
    terms = {}
    for mon, c in sp.expand(expr).as_coefficients_dict().items():
        key = tuple(sorted((idx[b], int(e)) for b, e in mon.as_powers_dict().items() if b in idx))
        terms[key] = terms.get(key, 0) + c
    return normaliser(terms)


def _gradient_combos(reps, where):
    """Exact basis of the combinations of ``reps`` (generators) whose A is symmetric."""
    return rational_null(_antisym_vector(reps), len(reps)) if reps else []


def charge_families(alg: Algebra) -> list[ChargeFamily]:
    """Gradient-field combinations per interface, lifted to every unit or unordered unit pair.

    Unit charges: combinations of the unit families at one representative unit.  Pair charges:
    combinations over two representative units {0, 1} of the pair families on (0,1), (1,0) and
    the unit families at 0 and 1, modulo the unit-only ones.  The solution space is equivariant
    under unit permutations, so relabelling (0, 1) -> (i, j) lifts each combination exactly.
    """
    out: list[ChargeFamily] = []
    syms = alg.model.symbols
    for itf in alg.interfaces:
        units = [f for f in alg.families if f.itf is itf and f.kind == "unit"]
        pairs = [f for f in alg.families if f.itf is itf and f.kind == "pair"]
        terms_u = [(f, (0,)) for f in units]
        for a, vec in enumerate(_gradient_combos([f.instance((0,)) for f, _ in terms_u], itf.name)):
            terms = [(c, f, pos) for c, (f, pos) in zip(vec, terms_u) if c != 0]
            _add(out, f"C.{itf.name}.unit{a}", "unit", terms, itf, syms, (0,))
        if pairs and itf.h >= 2:
            cand = [(f, (0, 1)) for f in pairs] + [(f, (1, 0)) for f in pairs] \
                + [(f, (0,)) for f in units] + [(f, (1,)) for f in units]
            reps = [f.instance(tuple((0, 1)[p] for p in pos)) for f, pos in cand]
            null = _gradient_combos(reps, itf.name)
            if null:
                # pair columns first: RREF pivots in pair columns mark the pair-involving combos
                R, piv = sp.Matrix(null).rref()
                npair = 2 * len(pairs)
                a = 0
                for row, p in zip(range(R.rows), piv):
                    if p >= npair:
                        continue
                    vec = list(R.row(row))
                    terms = [(c, f, pos) for c, (f, pos) in zip(vec, cand) if c != 0]
                    _add(out, f"C.{itf.name}.pair{a}", "pair", terms, itf, syms, (0, 1))
                    a += 1
    return out


def _add(out, name, kind, terms, itf, syms, rep_idx):
    cf = ChargeFamily(name, kind, terms, sp.Integer(1), itf.h)
    pot = cf.generator(rep_idx).potential(syms)
    if pot != 0:
        cf.kappa = _normaliser(pot, syms)
        out.append(cf)


@dataclass
class Charge:
    """One explicit charge: expression in the parameter symbols, with its generator."""

    name: str
    family: str
    expr: sp.Expr
    generator: Generator
    kappa: sp.Expr
    independent: bool = True


def explicit_charges(alg: Algebra, fams: list[ChargeFamily]) -> list[Charge]:
    syms = alg.model.symbols
    out = []
    for fam in fams:
        for idx in fam.index_sets():
            g = fam.generator(idx)
            name = g.name
            g.name = fam.generator_names(idx)
            out.append(Charge(name, fam.name, sp.expand(fam.kappa * g.potential(syms)), g, fam.kappa))
    return out


#: Exact per-interface cross-check of the gradient subspace only up to this many generators.
MIXED_LIMIT = 120


def residual_charges(alg: Algebra, fams: list[ChargeFamily]) -> tuple[list[Charge], list[str]]:
    """Gradient combinations the family lift did not produce (e.g. rows coupled through a bias
    that is absent), found by an exact null space over all of an interface's explicit generators."""
    syms, extra, notes = alg.model.symbols, [], []
    for itf in alg.interfaces:
        names = {f.name for f in alg.families if f.itf is itf}
        gens = [g for g in alg.generators if g.family in names]
        have = sum(cf.count for cf in fams if _itf(cf) is itf)
        if not gens:
            continue
        if len(gens) > MIXED_LIMIT:
            if any(f.kind.endswith("tied") for f in alg.families if f.itf is itf):
                notes.append(f"{itf.name}: coupled rows; gradient combinations beyond the families "
                             f"not searched at {len(gens)} generators")
            continue
        null = rational_null(_antisym_vector(gens), len(gens))
        if len(null) <= have:
            continue
        fam_gens = [cf.generator(idx) for cf in fams if _itf(cf) is itf for idx in cf.index_sets()]
        k = 0
        for vec in null:
            g = Generator.combine(list(zip(vec, gens)), f"C.{itf.name}.mixed{k}", f"C.{itf.name}.mixed")
            if _in_span(g, fam_gens + [c.generator for c in extra if c.family == g.family]):
                continue
            pot = g.potential(syms)
            kap = _normaliser(pot, syms)
            g.name = " + ".join(f"{c}*{x.name}" for c, x in zip(vec, gens) if c != 0)
            extra.append(Charge(f"C.{itf.name}.mixed{k}", f"C.{itf.name}.mixed", sp.expand(kap * pot), g, kap))
            k += 1
    return extra, notes


def _itf(cf: ChargeFamily):
    return cf.terms[0][1].itf


def _in_span(g: Generator, basis: list[Generator]) -> bool:
    keys = sorted(set(g.A) | set().union(*(set(b.A) for b in basis)) if basis else set(g.A))
    ckeys = sorted(set(g.c) | set().union(*(set(b.c) for b in basis)) if basis else set(g.c))
    if not basis:
        return not g.A and not g.c
    M = sp.Matrix([[b.A.get(k, 0) for b in basis] + [g.A.get(k, 0)] for k in keys]
                  + [[b.c.get(k, 0) for b in basis] + [g.c.get(k, 0)] for k in ckeys])
    return M.rank() == M[:, :-1].rank()
