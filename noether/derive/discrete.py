"""Discrete symmetries, derived from the layers' index axes and checked on outputs (docs/theory.md §10).

Every layer declares how its parameter blocks are indexed by *axes* (:mod:`noether.model.axes`):
hidden widths, channels, heads, d_k, d_v, residual streams.  An axis that touches neither the
input nor the output of the model is a candidate for two kinds of discrete symmetry:

* **unit permutations**: the same relabelling of the axis in every block that carries it.  The
  adjacent transpositions (i, i+1) generate S_n, so when each of them leaves the outputs
  unchanged the whole symmetric group does.  A permutation may also act *per value* of another
  axis present in every block of the first (the d_k coordinates of each head separately).
* **sign flips**: negating one unit of the axis in a subset of the blocks that carry it, e.g.
  rows of W, b and columns of the next W for an odd σ, only the rows for an even σ (σ(−z) = σ(z)),
  the rows of W_Q and W_K of one attention coordinate.  The passing subsets form a GF(2) space;
  a basis is reported.

Nothing is looked up by layer name: candidates come from the axis structure, and each one is
applied to random parameters and inputs and kept only if the outputs are unchanged to rounding.
For elementwise MLP interfaces the flips must agree with the relations σ(−u) = aσ(u) + b that
:mod:`.funcdep` derives (a disagreement is an error); those with b ≠ 0 (a bias shift of the next
layer, e.g. the sigmoid's σ(−z) = 1 − σ(z)) are added from there.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from math import factorial

import numpy as np
from ..model.axes import axis_name, model_axes_io

#: A candidate passes when max|f(gθ, x) − f(θ, x)| ≤ TOL·max|f(θ, x)|.  Permuting or negating
#: parameters changes only the order and signs of float64 sums (relative change ≲ 1e-14 for these
#: O(1)-scaled random points); a non-symmetry moves O(1) outputs by ≳ 1e-3 of their size.
TOL = 1e-9
#: Axes wider than this have their generating transpositions sampled (first, last, and a random
#: full permutation), which the report says.
MAX_ALL = 32


@dataclass
class AxisSites:
    """One axis (union-find root): its readable name, size, and (block, slot) positions."""
    name: str
    size: int
    free: bool
    sites: list[tuple[str, int]]

    @property
    def blocks(self) -> list[str]:
        return list(dict.fromkeys(b for b, _ in self.sites))


@dataclass
class DiscreteGroup:
    """A derived discrete symmetry group acting on one axis (optionally per value of ``per``)."""
    kind: str                          # "permutation" | "flip"
    axis: AxisSites
    per: AxisSites | None = None
    units: list[int] | None = None     # permutations: the units permuted among themselves
    blocks: list[str] = field(default_factory=list)     # flips: the blocks negated
    checked: str = ""
    max_change: float = 0.0

    @property
    def order(self) -> str:
        n = len(self.units) if self.units is not None else self.axis.size
        m = self.per.size if self.per else 1
        if self.kind == "flip":
            return f"2^{n * m}"
        base = str(factorial(n)) if n <= 20 else f"{n}!"
        return base if m == 1 else f"({base})^{m}"

    def to_json(self) -> dict:
        n = self.axis.size
        per = f" separately for each index of {self.per.name}" if self.per else ""
        if self.kind == "permutation":
            units = self.units if self.units is not None and len(self.units) < n else None
            act = ("permute the units " + (f"{units} " if units else "") + f"of {self.axis.name} in "
                   + ", ".join(f"{b}[axis {s}]" for b, s in self.axis.sites) + per)
        else:
            act = (f"negate unit i of {self.axis.name} in " + ", ".join(
                f"{b}[axis {s}]" for b, s in self.axis.sites if b in self.blocks) + per)
        return {"kind": self.kind, "interface": self.axis.name, "units": n, "order": self.order,
                "action": act, "per": self.per.name if self.per else None, "blocks": self.blocks or
                self.axis.blocks, "checked": self.checked, "max_output_change": self.max_change}


@dataclass
class AxisMap:
    """The internal axes of a model, each block's axis-level shape, and per top-level layer the
    names of the axes of its output layout (None for input/output axes)."""
    axes: list[AxisSites]
    shapes: dict[str, tuple[int, ...]]
    layer_out: list[list[str | None]]
    layer_sizes: list[list[int]]


def axis_sites(model) -> AxisMap:
    """The model's internal axes.  Axes of the input or the output layout are left out:
    relabelling them would need relabelling the data."""
    axes, layouts = model_axes_io(model)
    io = {id(a.root()) for a in layouts[0] + layouts[-1]}
    shapes, by_root = {}, {}
    for b in model.blocks:
        flat = [a for dim in axes[b.name] for a in dim]
        shapes[b.name] = tuple(a.size for a in flat)
        for slot, a in enumerate(flat):
            r = a.root()
            by_root.setdefault(id(r), (r, []))[1].append((b.name, slot))
    out, names = [], {}
    for rid, (r, sites) in by_root.items():
        if rid in io:
            continue
        name = axis_name(r.key) if r.setters else f"{sites[0][0]}[axis {sites[0][1]}]"
        out.append(AxisSites(name, r.size, r.free, sites))
        names[rid] = name
    return AxisMap(out, shapes, [[names.get(id(a.root())) for a in lay] for lay in layouts[1:]],
                   [[a.size for a in lay] for lay in layouts[1:]])


# -- applying -------------------------------------------------------------------------------------
def _views(model, shapes, theta, inplace: bool = False):
    th = theta if inplace else np.array(theta, dtype=float, copy=True)
    return th, {k: v.reshape(shapes[k]) for k, v in model.unflatten(th).items()}


def _slot_of(axis: AxisSites, block: str) -> int:
    return next(s for b, s in axis.sites if b == block)


def _sub(arr, slot, per, block, value):
    """(the array slice for per = value, the slot's position in it)."""
    if per is None:
        return arr, slot
    cs = _slot_of(per, block)
    sel = [slice(None)] * arr.ndim
    sel[cs] = value
    return arr[tuple(sel)], slot - (cs < slot)


def permute(model, shapes, theta, axis: AxisSites, perm, per: AxisSites | None = None, value: int = 0,
            inplace: bool = False):
    """θ with the units of ``axis`` relabelled by ``perm`` (new unit i = old unit perm[i]); a copy
    unless ``inplace`` (θ a float64 array)."""
    th, p = _views(model, shapes, theta, inplace)
    perm = np.asarray(perm, dtype=np.intp)
    for block, slot in axis.sites:
        sub, s = _sub(p[block], slot, per, block, value)
        sub[...] = np.take(sub, perm, axis=s)
    return th


def flip(model, shapes, theta, axis: AxisSites, unit: int, blocks, per: AxisSites | None = None,
         value: int = 0):
    """θ with unit ``unit`` of ``axis`` negated in ``blocks``."""
    th, p = _views(model, shapes, theta)
    for block, slot in axis.sites:
        if block not in blocks:
            continue
        sub, s = _sub(p[block], slot, per, block, value)
        sel = [slice(None)] * sub.ndim
        sel[s] = unit
        sub[tuple(sel)] *= -1.0
    return th


def apply_group_element(model, theta, g: DiscreteGroup, rng: np.random.Generator):
    """A random element of ``g`` applied to θ (for property tests)."""
    shapes = axis_sites(model).shapes
    for v in range(g.per.size if g.per else 1):
        if g.kind == "permutation":
            units = g.units if g.units is not None else list(range(g.axis.size))
            perm = np.arange(g.axis.size)
            perm[units] = rng.permutation(units)
            theta = permute(model, shapes, theta, g.axis, perm, g.per, v)
        else:
            for u in np.flatnonzero(rng.random(g.axis.size) < 0.5):
                theta = flip(model, shapes, theta, g.axis, int(u), g.blocks, g.per, v)
    return theta


# -- checking -------------------------------------------------------------------------------------
class _Checker:
    """Outputs at two seeded random (θ, X) points; ``change(fn)`` = relative output change."""

    def __init__(self, model, seed):
        rng = np.random.default_rng([seed, 15])
        self.model, self.pts = model, []
        n = 6                     # samples per point (batchnorm needs several)
        for _ in range(2):
            theta = model.init(rng)
            X = rng.standard_normal((n, model.input))
            F = model.forward(theta, X)
            self.pts.append((theta, X, F, max(float(np.abs(F).max()), 1e-300)))
        self.worst = 0.0

    def change(self, fn) -> float:
        out = max(float(np.abs(self.model.forward(fn(th), X) - F).max()) / s for th, X, F, s in self.pts)
        return out

    def ok(self, fn) -> bool:
        c = self.change(fn)
        if c <= TOL:
            self.worst = max(self.worst, c)
            return True
        return False


def _transpositions(n: int, rng) -> tuple[list[tuple[int, int]], bool]:
    if n <= MAX_ALL:
        return [(i, i + 1) for i in range(n - 1)], True
    return [(0, 1), (n - 2, n - 1)], False


def _swap(n, i, j):
    p = np.arange(n)
    p[[i, j]] = p[[j, i]]
    return p


def _per_candidates(axis: AxisSites, axes: list[AxisSites]) -> list[AxisSites]:
    """Axes present exactly once in every block of ``axis`` (a permutation may act per their value)."""
    out = []
    for c in axes:
        if c is axis:
            continue
        if all(sum(1 for b2, _ in c.sites if b2 == b) == 1 for b in axis.blocks):
            out.append(c)
    return out


def _perm_groups(model, shapes, ax, axes, chk, rng) -> list[DiscreteGroup]:
    n = ax.size
    if n < 2:
        return []
    trans, complete = _transpositions(n, rng)
    chk.worst = 0.0
    passed = [t for t in trans if chk.ok(lambda th, t=t: permute(model, shapes, th, ax, _swap(n, *t)))]
    if len(passed) < len(trans):
        if not passed or not complete:
            return []
        # some transpositions only: the group they generate (connected components of units)
        pairs = passed + ([(i, j) for i, j in itertools.combinations(range(n), 2) if j > i + 1 and
                           chk.ok(lambda th, i=i, j=j: permute(model, shapes, th, ax, _swap(n, i, j)))]
                          if n <= 8 else [])
        comp = list(range(n))
        for i, j in pairs:
            a, b = comp[i], comp[j]
            comp = [a if c == b else c for c in comp]
        return [DiscreteGroup("permutation", ax, None, [u for u in range(n) if comp[u] == c],
                              checked=f"{len(pairs)} transpositions", max_change=chk.worst)
                for c in sorted(set(comp)) if comp.count(c) > 1]
    checked = f"all {n - 1} adjacent transpositions (generators of S_{n})"
    if not complete:
        perm = rng.permutation(n)
        if not chk.ok(lambda th: permute(model, shapes, th, ax, perm)):
            raise RuntimeError(f"axis {ax.name}: transpositions are symmetries but a random permutation "
                               "is not; the axis declaration is inconsistent")
        checked = f"transpositions (0 1), ({n - 2} {n - 1}) and one random permutation of {n} units"
    for c in _per_candidates(ax, axes):
        if all(chk.ok(lambda th, t=t, v=v: permute(model, shapes, th, ax, _swap(n, *t), c, v))
               for v in range(c.size) for t in trans):
            return [DiscreteGroup("permutation", ax, c, checked=checked + f", for each of the {c.size} "
                                  f"indices of {c.name}", max_change=chk.worst)]
    return [DiscreteGroup("permutation", ax, checked=checked, max_change=chk.worst)]


def _gf2_basis(masks: list[int]) -> list[int]:
    """A basis of the GF(2) span of ``masks``, preferring masks with fewer blocks."""
    pivots: dict[int, int] = {}           # leading bit -> reduced vector
    basis = []
    for m in sorted(masks, key=lambda m: (bin(m).count("1"), m)):
        r = m
        while r and r.bit_length() - 1 in pivots:
            r ^= pivots[r.bit_length() - 1]
        if r:
            pivots[r.bit_length() - 1] = r
            basis.append(m)
    return basis


def _flip_groups(model, shapes, ax, axes, chk) -> list[DiscreteGroup]:
    blocks, n = ax.blocks, ax.size
    masks = range(1, 2 ** len(blocks)) if len(blocks) <= 6 else [2 ** len(blocks) - 1]
    units = list(range(n)) if (not ax.free and n <= 16) else sorted({0, n - 1})
    chk.worst = 0.0

    def sel(m):
        return [b for k, b in enumerate(blocks) if m >> k & 1]

    passed = [m for m in masks if all(chk.ok(lambda th, u=u, m=m: flip(model, shapes, th, ax, u, sel(m)))
                                      for u in units)]
    out = []
    what = f"units {units}" + ("" if len(units) == n else f" of {n} (the axis is relabelling-invariant)")
    for m in _gf2_basis(passed):
        per = next((c for c in _per_candidates(ax, axes)
                    if all(chk.ok(lambda th, u=u, v=v, m=m: flip(model, shapes, th, ax, u, sel(m), c, v))
                           for u in units for v in range(c.size))), None)
        out.append(DiscreteGroup("flip", ax, per, blocks=sel(m), checked=what, max_change=chk.worst))
    return out


def derive_discrete(model, seed: int = 0) -> list[DiscreteGroup]:
    """Every permutation and sign-flip group of the model's internal axes (checked on outputs)."""
    amap = axis_sites(model)
    axes, shapes = amap.axes, amap.shapes
    chk, rng = _Checker(model, seed), np.random.default_rng([seed, 16])
    out = []
    for ax in axes:
        out += _perm_groups(model, shapes, ax, axes, chk, rng)
        out += _flip_groups(model, shapes, ax, axes, chk)
    return out


def discrete_symmetries(model, alg=None, seed: int = 0, groups=None) -> list[dict]:
    """JSON entries of :func:`derive_discrete`, cross-checked against the σ relations of the
    per-interface method and completed by its affine flips (bias shift of the next layer)."""
    groups = derive_discrete(model, seed) if groups is None else groups
    out = [g.to_json() for g in groups]
    names = {site: ax.name for ax in axis_sites(model).axes for site in ax.sites}
    for itf in (alg.interfaces if alg is not None else []):
        if itf.right is None:
            continue
        L, R = itf.left, itf.right
        mine = [g for g in groups if g.kind == "flip" and (L.W, 0) in g.axis.sites and L.W in g.blocks]
        theirs = [(a, b) for a, b in itf.sol.flips if b == 0]
        if bool(mine) != bool(theirs):
            raise RuntimeError(f"interface {itf.name}: the sign flips checked on outputs ({len(mine)}) and the "
                               f"relations sigma(-z) = a sigma(z) + b with b = 0 ({theirs}) disagree")
        for a, b in itf.sol.flips:
            if b == 0 or not R.bias:
                continue
            act = (f"negate row i of {L.W}" + (f" and {L.b}[i]" if L.bias else "")
                   + f"; {R.W}[:,i] -> {a}*{R.W}[:,i]; {R.b} += {b}*{R.W}[:,i]")
            out.append({"kind": "flip", "interface": names.get((L.W, 0), itf.name), "units": itf.h, "relation":
                        f"sigma(-z) = {a}*sigma(z) + {b}", "action": act, "order": f"2^{itf.h}", "per": None,
                        "blocks": [L.W] + ([L.b] if L.bias else []) + [R.W, R.b],
                        "checked": "derived relation (funcdep)", "max_output_change": None})
    return out


def apply_permutation(model, theta, itf, perm):
    """θ with the units of interface ``itf`` permuted by ``perm`` (numpy, for checks)."""
    p = {k: v.copy() for k, v in model.unflatten(np.asarray(theta, dtype=float).copy()).items()}
    L, R = itf.left, itf.right
    p[L.W] = p[L.W][perm]
    if L.bias:
        p[L.b] = p[L.b][perm]
    p[R.W] = p[R.W][:, perm]
    return np.concatenate([p[b.name].ravel() for b in model.blocks])


def apply_flip(model, theta, itf, unit, a, b):
    p = {k: v.copy() for k, v in model.unflatten(np.asarray(theta, dtype=float).copy()).items()}
    L, R = itf.left, itf.right
    p[L.W][unit] *= -1
    if L.bias:
        p[L.b][unit] *= -1
    col = p[R.W][:, unit].copy()
    p[R.W][:, unit] = float(a) * col
    if float(b) != 0:
        p[R.b] += float(b) * col
    return np.concatenate([p[b_.name].ravel() for b_ in model.blocks])
