"""Gram form of a charge family, read off its indexed formula (generic, no per-architecture table).

A unit or pair charge family whose formula is a sum of terms ``coef · Σ_k A[i,k]·A[j,k]``,
``coef · Σ_k A[k,i]·A[k,j]`` or ``coef · a[i]·a[j]`` (unit families: ``i = j``, squares) is the
(i, j) entry of the symmetric matrix  G = Σ_t coef_t · M_t M_tᵀ,  with M_t = A (rows), Aᵀ
(columns) or a as a column.  Unit charges are diag(G); pair charges are G[i, j] for i < j in the
order :meth:`ChargeFamily.index_sets` lists them.  This is what lets a whole family be evaluated by
one BLAS Gram product (Du, Hu & Lee 2018's balancedness matrix is one instance).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..derive.charges import i_, j_


class NotGram(ValueError):
    """The family's formula is not a signed sum of Gram terms."""


@dataclass(frozen=True)
class GramTerm:
    coef: float
    block: str          # parameter block name, e.g. "W1"
    axis: int           # the axis the free index runs along (0: rows of a 2-D block, 1: columns); 0 for 1-D


@dataclass(frozen=True)
class GramFamily:
    name: str
    kind: str           # unit | pair
    h: int
    terms: tuple[GramTerm, ...]


def _axis_of(ind: sp.Indexed, free) -> int:
    pos = [p for p, ix in enumerate(ind.indices) if ix == free]
    if len(pos) != 1:
        raise NotGram(f"{ind} does not carry {free} exactly once")
    return pos[0]


def _term(term, kind) -> GramTerm:
    coef, rest = term.as_coeff_Mul()
    if isinstance(rest, sp.Sum):
        (k, a, b), = rest.limits
        body = rest.function
    else:
        k, body = None, rest
    if kind == "unit":
        base, e = body.as_base_exp()
        if e != 2 or not isinstance(base, sp.Indexed):
            raise NotGram(f"unit term {term} is not a square of one indexed entry")
        f1 = f2 = base
        free2 = i_
    else:
        fs = sp.Mul.make_args(body)
        if len(fs) != 2 or not all(isinstance(f, sp.Indexed) for f in fs):
            raise NotGram(f"pair term {term} is not a product of two indexed entries")
        f1, f2 = sorted(fs, key=lambda f: 0 if i_ in f.indices else 1)
        free2 = j_
    if f1.base != f2.base:
        raise NotGram(f"term {term} mixes blocks")
    ax = _axis_of(f1, i_)
    if _axis_of(f2, free2) != ax:
        raise NotGram(f"term {term}: i and {free2} on different axes")
    others1 = [ix for p, ix in enumerate(f1.indices) if p != ax]
    others2 = [ix for p, ix in enumerate(f2.indices) if p != ax]
    if others1 != others2 or (others1 and others1 != [k]) or (k is not None and not others1):
        raise NotGram(f"term {term}: summation index must run over the other axis")
    if k is not None and (a != 0):
        raise NotGram(f"term {term}: partial sum")
    return GramTerm(float(coef), str(f1.base), ax)


def gram_terms(expr, kind) -> tuple[GramTerm, ...]:
    """The Gram terms of an indexed unit / pair formula (raises :class:`NotGram`)."""
    return tuple(_term(t, kind) for t in sp.Add.make_args(sp.expand(expr)) if t != 0)


def gram_family(cf) -> GramFamily:
    """The Gram form of a :class:`ChargeFamily` (raises :class:`NotGram` if it has none)."""
    return GramFamily(cf.name, cf.kind, cf.h, gram_terms(cf.indexed(cf.terms[0][1].itf), cf.kind))


GRAM_MIN_H = 48   # below this the printed loop is as fast as a BLAS product (measured, see noether bench)


def gram_function(name: str, expr, kind: str, h: int, indexed: dict, absolute: bool = False) -> str | None:
    """Source of a pair-family function evaluated by blocked Gram products (``primitives.gram_pair``),
    or None when the formula has no Gram form, is a unit family (a cheap diagonal) or h is small.

    ``indexed`` maps block names to (offset, shape) in the flat vector; with ``absolute`` the
    abs-term scale Σ|coef·a_ik·a_jk| = |coef|·(|A||A|ᵀ)_ij is produced, as the printed loop does."""
    if kind != "pair" or h < GRAM_MIN_H:
        return None
    try:
        terms = gram_terms(expr, kind)
    except NotGram:
        return None
    if not terms:
        return None
    offs, n0, n1, axes, coefs = [], [], [], [], []
    for t in terms:
        off, shape = indexed[t.block]
        offs.append(off)
        n0.append(shape[0])
        n1.append(shape[1] if len(shape) > 1 else 1)
        axes.append(t.axis)
        coefs.append(abs(t.coef) if absolute else t.coef)
    tup = lambda v: "(" + "".join(f"{x!r}, " for x in v) + ")"  # noqa: E731
    return (f"@njit(cache=True)\ndef {name}(x, out, start):\n"
            f"    # Gram form: sum_t coef_t * M_t M_t^T, M_t a block (axis 0) or its transpose (axis 1)\n"
            f"    # blocks: {', '.join(f'{t.block} at {o}' for t, o in zip(terms, offs))}\n"
            f"    return gram_pair(x, out, start, {h}, np.array({tup(offs)}), np.array({tup(n0)}), "
            f"np.array({tup(n1)}), np.array({tup(axes)}), np.array({tup(coefs)}), {bool(absolute)})\n")


def gram_families(deriv) -> list[GramFamily]:
    """Gram forms of every charge family; raises NotGram if any family, or a mixed charge, has none."""
    if any(".mixed" in c.family for c in (deriv.charges or [])):
        raise NotGram("mixed charges have no Gram form")
    return [gram_family(cf) for cf in deriv.charge_families]
