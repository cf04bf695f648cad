"""Hidden interfaces of a layered model, and the lift of eq. 2 to parameter space.

An *interface* is a representation z produced by a linear layer (z = W x + b), passed through a
chain of elementwise layers (composed into one σ), and consumed by the next linear layer
(y = U σ(z) + b') - or by the loss, at the output.  An infinitesimal change δz = M z + c is
produced by δW = M W, δb = M b + c, and δσ(z) = P σ(z) + d is absorbed by δU = −U P,
δb' = −U d (docs/theory.md §2).  The biases decide which c and d can be realised; this module turns
the width-independent solution of :mod:`.elementwise` into the solution space at width h.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ...errors import SpecError
from ...model.catalogue import z
from ...model.linear import Linear
from ..generator import Generator
from ..linalg import rational_null
from .elementwise import ElementwiseSolution, solve_elementwise


class NotStructured(Exception):
    """The structured (per-interface) method does not cover this model."""


@dataclass
class Interface:
    name: str
    left: Linear
    right: Linear | None          # None: the output, consumed by the loss
    sigma: sp.Expr
    sol: ElementwiseSolution
    offsets: dict[str, int]
    unit: list[tuple] = field(default_factory=list)        # (m, c, p, d̃) realisable at every unit
    pair: list[tuple] = field(default_factory=list)        # (μ, π) realisable on every ordered pair
    tied_pair: tuple | None = None                         # pair vector whose d couples rows
    tied_unit: list[tuple] = field(default_factory=list)   # (m, c, p, d̃, s) rows with Σ_j s_j

    @property
    def h(self) -> int:
        return self.left.out

    # -- the lift: (M, c, P, d) pattern -> generator on θ ----------------------------------------
    def generator(self, comps, name: str, family: str) -> Generator:
        """``comps``: tuples ('M', i, j, v), ('c', i, v), ('P', i, j, v), ('d', i, v)."""
        g = Generator(name, family)
        L, R, off = self.left, self.right, self.offsets
        n = L.in_dim
        oW, ob = off[L.W], off.get(L.b) if L.bias else None
        merged: dict = {}
        for comp in comps:
            merged[comp[:-1]] = merged.get(comp[:-1], 0) + comp[-1]
        for key, val in merged.items():
            comp = key + (val,)
            kind = comp[0]
            if val == 0:
                continue
            if kind == "M":
                i, j = comp[1], comp[2]
                for k in range(n):                       # δW[i,k] += M_ij W[j,k]
                    g.add(oW + i * n + k, oW + j * n + k, val)
                if L.bias:                               # δb[i] += M_ij b[j]
                    g.add(ob + i, ob + j, val)
            elif kind == "c":
                g.add(ob + comp[1], None, val)
            elif kind == "P":
                i, j = comp[1], comp[2]
                m, h, oU = R.out, R.in_dim, off[R.W]
                for k in range(m):                       # δU[k,j] −= U[k,i] P_ij
                    g.add(oU + k * h + j, oU + k * h + i, -val)
            elif kind == "d":
                i = comp[1]
                m, h, oU, obr = R.out, R.in_dim, off[R.W], off[R.b]
                for k in range(m):                       # δb'[k] −= U[k,i] d_i
                    g.add(obr + k, oU + k * h + i, -val)
        return g

    def unit_comps(self, vec, i):
        m, c, p, d = vec
        return [("M", i, i, m), ("c", i, c), ("P", i, i, p), ("d", i, d)]

    def pair_comps(self, vec, i, j):
        mu, pi = vec
        return [("M", i, j, mu), ("P", i, j, pi), ("d", i, -self.sol.sigma0 * pi)]


def _combine(basis, coeffs):
    return tuple(sp.nsimplify(sum(c * b[k] for c, b in zip(coeffs, basis))) for k in range(len(basis[0])))


def solve_interface(itf: Interface) -> Interface:
    """Apply the bias/absorber constraints to the unit and pair solutions (exact)."""
    sol, L, R = itf.sol, itf.left, itf.right
    V = [tuple(v) for v in sol.unit]
    W = [tuple(w) for w in sol.pair]
    if R is None and W:                       # nothing absorbs P at the output: π = 0
        W = [_combine(W, a) for a in rational_null([[w[1] for w in W]], len(W))]
    rows = []
    if not L.bias:
        rows.append([v[1] for v in V])        # c = 0
    if R is None:
        rows.append([v[2] for v in V])        # p = 0
    d_constrained = R is None or not R.bias
    k = [-sol.sigma0 * w[1] for w in W]
    coupled = d_constrained and any(x != 0 for x in k)
    full = rows + ([[v[3] for v in V]] if d_constrained else [])
    itf.unit = [_combine(V, a) for a in rational_null(full, len(V))] if V else []
    if not coupled:
        itf.pair = W
        return itf
    free = [_combine(W, a) for a in rational_null([k], len(W))]
    # one vector spans the complement of the free pairs (k is a single row)
    t = next(w for w, kk in zip(W, k) if kk != 0)
    itf.pair, itf.tied_pair = free, t
    kt = -sol.sigma0 * t[1]
    aug = [r + [0] for r in rows] + [[v[3] for v in V] + [kt]]
    for a in rational_null(aug, len(V) + 1):
        if a[-1] != 0:
            itf.tied_unit.append(_combine(V, a[:-1]) + (sp.nsimplify(a[-1]),) if V else
                                 (0, 0, 0, 0, sp.nsimplify(a[-1])))
    return itf


def interfaces(model) -> list[Interface]:
    """The interfaces of a model built from linear and elementwise layers."""
    out: list[Interface] = []
    last: Linear | None = None
    sigma, where = z, "layer"
    for pos, layer in enumerate(model.layers):
        if isinstance(layer, Linear):
            if last is not None:
                out.append(_make(model, last, layer, sigma, where))
            last, sigma, where = layer, z, f"layer[{pos}]"
        elif layer.elementwise:
            if last is not None:
                sigma = sp.simplify(layer.expr.subs(z, sigma)) if sigma != z else layer.expr
                where = f"layer[{pos}].fn"
        else:
            raise NotStructured(f"layer {layer.type!r}")
    if last is not None:
        out.append(_make(model, last, None, sigma, where))
    return out


def _make(model, left, right, sigma, where) -> Interface:
    try:
        sol = solve_elementwise(sigma, f"activation {sigma}")
    except SpecError as exc:
        raise SpecError(where, exc.message) from None
    name = f"L{left.index}" if right is not None else f"out{left.index}"
    return solve_interface(Interface(name, left, right, sigma, sol, model.offsets))
