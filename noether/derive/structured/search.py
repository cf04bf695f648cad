"""Structured search for wide models of any layer type: families derived small, lifted wide.

The set of generators X = Aθ + c is invariant under relabelling the units of every *free* axis
(:mod:`noether.model.axes`).  So it is spanned by **families**: a family has a signature (≤ 2
marked units, k or k ≠ l, on the free axes) and a coefficient vector over the *orbit basis*
(Maron et al. 2019, "Invariant and equivariant graph networks"): an entry A[p, q] or c[p] depends
only on which index values of p, q and the marks coincide on each free axis (and on the values of
fixed axes).  A family member is the family at one choice of marks.

1. A reduced copy of the model is built with each free axis at the smallest width that realises
   every equality pattern (two positions per block index plus the marks).
2. Per signature, the pattern coefficients solving S J_f(θ; x) X(θ) = 0 (docs/theory.md eq. (1)) are a
   null space, sampled at random float points of the reduced model (SVD, gap reported).  Its
   reduced row echelon form is rationalised and every family vector is certified *exactly*,
   modulo a prime at fresh rational points (:mod:`..global_search.exact`), or, for models without an
   exact evaluation (tanh, ...), at fresh float points.
3. The families are instantiated at the model's real widths; every member is checked at fresh
   float points of the full model.  Members are explicit generators; dim, orbit rank and the
   charges then come from the same summary as the global search.

Cost grows with the number of patterns (independent of width) and with the number of members
(the algebra itself).  Beyond :data:`MAX_MEMBERS` members, only the families are reported.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp

from ...model.axes import axis_name, model_axes
from ..generator import Generator
from ..linalg import matmul_mod, residue
from ..global_search.exact import (P2, GlobalSearchError, batch_size, model_problem,
                           sample_rows, summarise)
from ..global_search.numeric import jacobian_sample
from ..span import P as SPAN_P, Span, independent
from .flat import FlatTranslations
from ..linalg import NoClearGap, first_independent, float_row_basis, rational_rref, scaled_null
from ..modeval import NotExact
from ...model.layer import Layer
from ...model.residual import Residual
from ...model.model import Model
from math import comb, prod

#: Explicit generators are built up to this many family members.
MAX_MEMBERS = 1500
#: float64 null space: exact null directions leave σ ≲ 1e-12 relative (rounding of ~1e3-term
#: sums of O(1) products); genuine ones of these random well-scaled systems are ≳ 1e-6.
RTOL = 1e-9
#: The same threshold on σ computed from the Gram matrix (squared: rounding ~1e-16·σ_max² there).
GRAM_RTOL = 1e-6
MIXED3 = True


# -- where each parameter sits on the axes ---------------------------------------------------------
@dataclass
class Layout:
    model: object
    free: list[tuple]                 # free axis keys, sorted
    sizes: dict                       # free axis key -> width
    block_of: list[str]               # per parameter
    free_vals: list[tuple]            # per parameter: per free axis, tuple of its index values
    fixed_vals: list[tuple]           # per parameter: values of its fixed axes
    slots: dict = field(default_factory=dict)   # block -> [(axis key | None, size)] per flat slot
    entries: dict = field(default_factory=dict)  # (pattern key, marks) -> [(r, s)]: member's cache
    strides: dict = field(default_factory=dict)  # block -> [(free axis position | None, stride)]


def layout(model) -> Layout:
    """Where each parameter sits.  A free axis narrower than its reduction width is laid out as
    a fixed one (its index values kept): the search is then exact along it, with no marks.  Such
    widths have fields of their own that the ≤ 3 marks of :func:`signatures` can miss (with two
    logits, cross-entropy sees only their difference d, and W1[i, a] += d_j, W1[j, a] −= d_i
    needs a mark on the input, two on the hidden units and one on the logits)."""
    axes, _ = model_axes(model)
    roots = {a.root() for dims in axes.values() for dim in dims for a in dim}
    need = _need(axes)
    wide = {a for a in roots if a.free and a.size >= need[a.key]}
    free = sorted({a.key for a in wide})
    sizes = {a.key: a.size for a in wide}
    pos = {k: i for i, k in enumerate(free)}
    block_of, fv, xv, slots = [], [], [], {}
    for b in model.blocks:
        dims = axes[b.name]
        sl = [(a.root().key if a.root() in wide else None, a.size) for dim in dims for a in dim]
        slots[b.name] = sl
        shape = [a.size for dim in dims for a in dim]
        assert int(np.prod(shape)) == b.size, (b.name, shape, b.shape)
        for idx in np.ndindex(*shape):
            f = [[] for _ in free]
            x = []
            for (key, _), v in zip(sl, idx):
                (f[pos[key]] if key is not None else x).append(v)
            block_of.append(b.name)
            fv.append(tuple(tuple(t) for t in f))
            xv.append(tuple(x))
    return Layout(model, free, sizes, block_of, fv, xv, slots)


def _labels(vals: tuple) -> tuple:
    seen: dict = {}
    return tuple(seen.setdefault(v, len(seen)) for v in vals)


def signatures(free: list) -> list[tuple]:
    out = [()]
    out += [((a, m),) for m in (1, 2, 3) for a in free]
    out += [((a, 1), (b, 1)) for a, b in itertools.combinations(free, 2)]
    if MIXED3:
        out += [((a, 2), (b, 1)) if i else ((a, 1), (b, 2)) for a, b in itertools.combinations(free, 2) for i in (0, 1)]
        out += [tuple((a, 1) for a in c) for c in itertools.combinations(free, 3)]
    return out


def _marks(sig) -> dict:
    return {a: tuple(range(m)) for a, m in sig}     # canonical mark values 0, 1


def _key(L: Layout, r: int, s: int | None, marks: dict):
    """(pattern of entry A[r, s] (c[r] when s is None) for these marks, whether it touches a mark)."""
    lab, full = [], not marks
    for i, a in enumerate(L.free):
        m = marks.get(a, ())
        vals = L.free_vals[r][i] + (L.free_vals[s][i] if s is not None else ()) + m
        lb = _labels(vals)
        n = len(vals) - len(m)
        full = full or any(lb[n + j] in lb[:n] for j in range(len(m)))
        lab.append(lb)
    return (L.block_of[r], L.block_of[s] if s is not None else None, tuple(lab),
            L.fixed_vals[r], L.fixed_vals[s] if s is not None else None), full


def patterns(L: Layout, sig) -> tuple[dict, set]:
    """({pattern key: [(r, s)]} at the layout's widths for the canonical marks of ``sig``, the
    keys that touch a mark).  One entry touches at most two units of an axis, so a member may
    spread its marks over several patterns (the triangle E_kl − E_lk + E_lm − E_ml + E_mk − E_km)
    and may leave a mark out of some (e_k 1ᵀ next to E_kl); what repeats a smaller signature is
    removed by :func:`prune`."""
    marks, out, full = _marks(sig), {}, set()
    members = {}
    for r, b in enumerate(L.block_of):
        members.setdefault(b, []).append(r)
    fixed_id = {v: i for i, v in enumerate(sorted(set(L.fixed_vals)))}
    fid = np.array([fixed_id[v] for v in L.fixed_vals])
    for t, rs in members.items():
        for s, ss in list(members.items()) + [(None, None)]:
            R = np.repeat(np.array(rs), len(ss) if ss else 1)
            S = np.tile(np.array(ss), len(rs)) if ss else None
            # one column per free axis: the equality pattern of its positions, as bits
            cols = [fid[R], fid[S] if S is not None else np.zeros_like(R)]
            for i, a in enumerate(L.free):
                pos = [np.array([L.free_vals[r][i][j] for r in rs]) for j in range(len(L.free_vals[rs[0]][i]))]
                pos = [np.repeat(p, len(ss) if ss else 1) for p in pos]
                if S is not None:
                    pos += [np.tile(np.array([L.free_vals[q][i][j] for q in ss]), len(rs))
                            for j in range(len(L.free_vals[ss[0]][i]))]
                pos += [np.full(len(R), v) for v in marks.get(a, ())]
                code = np.zeros(len(R), dtype=np.int64)
                for x, y in itertools.combinations(range(len(pos)), 2):
                    code = code * 2 + (pos[x] == pos[y])
                cols.append(code)
            _, first, inv = np.unique(np.stack(cols, axis=1), axis=0, return_index=True, return_inverse=True)
            inv = inv.ravel()
            for g, f0 in enumerate(first):
                k, touches = _key(L, int(R[f0]), int(S[f0]) if S is not None else None, marks)
                sel = inv == g
                out[k] = (R[sel], S[sel] if S is not None else None)
                if touches:
                    full.add(k)
    return out, full


# -- the reduced model ------------------------------------------------------------------------------
def _build(table: dict, orig, field: str):
    if isinstance(orig, Residual):
        return Residual([_build(t, l, f"{field}.layer[{j}]") for j, (t, l) in enumerate(zip(table["layer"], orig.inner))],
                        field)
    cls = Layer.registry.get(table["type"])
    if cls is type(orig):
        return cls.from_spec(table, field)
    return copy.deepcopy(orig)           # user layers: every axis fixed, nothing to resize


def reduced_model(model, widths: dict):
    """A copy of ``model`` with free axis ``key`` at ``widths[key]``."""
    axes, _ = model_axes(model)
    spec = model.to_dict()
    done = set()
    for dims in axes.values():
        for dim in dims:
            for a in dim:
                root = a.root()
                if not root.free or root.key not in widths or id(root) in done:
                    continue
                done.add(id(root))
                for path, key in root.setters:
                    t = spec
                    for step in path:
                        t = t[step]
                    t[key] = widths[root.key]
    layers = [_build(t, l, f"layer[{i}]") for i, (t, l) in enumerate(zip(spec["layer"], model.layers))]
    return Model(spec["input"], layers, model.loss_name, model.name, model.seq)


def reduction_widths(model) -> dict:
    """Per free axis: two positions per block index plus three marks (every pattern realised)."""
    axes, _ = model_axes(model)
    need = _need(axes)
    roots = {a.root() for dims in axes.values() for dim in dims for a in dim if a.free}
    return {a.key: min(a.size, need[a.key]) for a in roots}


def _need(axes) -> dict:
    need: dict = {}
    for dims in axes.values():
        count: dict = {}
        for dim in dims:
            for a in dim:
                if a.free:
                    count[a.key] = count.get(a.key, 0) + 1
        for k, c in count.items():
            need[k] = max(need.get(k, 0), 2 * c + 3)
    return need


# -- solving one signature --------------------------------------------------------------------------
class Sampler:
    """Rows S J_f(θ; x) at random float points of a model, with their θ (cached, grown on demand).

    After :meth:`constrain` each of the first D + 10 sample points also contributes one row per
    flat translation t (rows of ``flat``): tᵀA θ⊥ = 0 with θ⊥ the sample's component orthogonal to
    the translations, i.e. the fields' component along a flat translation may depend on θ only
    through the translations' own coordinates.  ``C`` weights the translation (c) patterns: 1 on Jacobian
    rows, 0 on these constraint rows (they constrain A only)."""

    def __init__(self, model, seed):
        self.model, self.rng = model, np.random.default_rng([seed, 51])
        self.S = np.kron(np.eye(batch_size(model)), np.array(model.loss.sensitivity(model.output), dtype=float))
        self.flat = np.zeros((0, model.D))
        self._blocks: list[tuple[np.ndarray, np.ndarray]] = []     # (θ, normalised S J rows)
        self._pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []   # (G, T, C) per sample
        self._stacked = None      # the pieces concatenated, until the next one is appended

    def _append(self, theta, G):
        # the constraint tᵀA P⊥ = 0 is dim T × D equations: the rows t ⊗ θ⊥ of D + 10 generic
        # points span them, and more would only dilute the Jacobian rows (attention's key bias:
        # four constraint rows per Jacobian row, four times the rows for the same rank)
        flat = self.flat if len(self._pieces) < self.model.D + 10 else self.flat[:0]
        perp = theta - flat.T @ (flat @ theta)
        self._stacked = None
        self._pieces.append((np.vstack([G, flat]),
                             np.vstack([np.tile(theta, (len(G), 1)), np.tile(perp, (len(flat), 1))]),
                             np.concatenate([np.ones(len(G)), np.zeros(len(flat))])))

    def _arrays(self):
        """(G, T, C) of every sample so far, stacked once per growth (not per sample)."""
        if self._stacked is None:
            D = self.model.D
            empty = (np.zeros((0, D)), np.zeros((0, D)), np.zeros(0))
            self._stacked = tuple(np.concatenate([e] + [p[i] for p in self._pieces]) for i, e in enumerate(empty))
        return self._stacked

    @property
    def G(self) -> np.ndarray:
        return self._arrays()[0]

    def constrain(self, flat: np.ndarray) -> None:
        """Add the rows tᵀAθ⊥ = 0 for the (orthonormal) rows t of ``flat``, at every sample point."""
        self.flat = flat
        self._pieces, self._stacked = [], None
        for theta, G in self._blocks:
            self._append(theta, G)

    def rows(self, n: int):
        have = sum(len(p[0]) for p in self._pieces)
        while have < n:
            theta, X, J = jacobian_sample(self.model, self.rng, batch_size(self.model))
            G = self.S @ J
            G /= np.linalg.norm(G, axis=1, keepdims=True) + 1e-300
            self._blocks.append((theta, G))
            self._append(theta, G)
            have += len(self._pieces[-1][0])
        G, T, C = self._arrays()
        return G[:n], T[:n], C[:n]


def _system(pats: list, G, T, C) -> np.ndarray:
    """Column j: S J X_j(θ) at each row, X_j the j-th pattern's generator (its c part weighted by C)."""
    M = np.zeros((len(G), len(pats)))
    for j, ent in enumerate(pats):
        if ent is None:
            continue
        r, s = ent
        step = max(1, 4_000_000 // max(len(r), 1))       # rows per chunk: bounded temporaries
        for a in range(0, len(G), step):
            g = G[a:a + step, r]
            M[a:a + step, j] = g.sum(axis=1) * C[a:a + step] if s is None else np.einsum("ij,ij->i", g, T[a:a + step, s])
    return M


def _rational_rref(V: np.ndarray, what: str) -> list[list[Fraction]]:
    """Exact rationals of the reduced row echelon form of the row space of V (float)."""
    V = V.copy()
    rows, cols = V.shape
    r = 0
    for c in range(cols):
        if r == rows:
            break
        k = r + int(np.argmax(np.abs(V[r:, c])))
        if abs(V[k, c]) < 1e-6 * max(1.0, np.abs(V).max()):
            continue
        V[[r, k]] = V[[k, r]]
        V[r] /= V[r, c]
        others = [i for i in range(rows) if i != r]
        V[others] -= np.outer(V[others, c], V[r])
        r += 1
    out = []
    for row in V[:r]:
        # entries within 1e-9 of an integer (most are 0): that integer is the closest fraction with
        # denominator <= 1e5 (any other is >= 1e-5 away); they stay Python ints (which have
        # .numerator/.denominator), and limit_denominator runs on the rest only
        near = np.round(row)
        fr = near.astype(np.int64).tolist()
        dev = 0.0
        for j in np.flatnonzero(np.abs(row - near) >= 1e-9):
            fr[j] = Fraction(float(row[j])).limit_denominator(100000)
            dev = max(dev, abs(float(fr[j]) - row[j]))
        # RREF of an exact rational null space computed in float64: entries within ~1e-9
        if dev > 1e-7:
            raise GlobalSearchError(f"{what}: a family coefficient is not a small rational "
                                    f"(max deviation {dev:.1e})")
        out.append(fr)
    return out


@dataclass
class Family:
    signature: tuple
    keys: list                         # pattern keys
    vectors: list[list[Fraction]]      # coefficient vectors over ``keys``
    gap: tuple[float, float]
    anchored: bool = False            # members only through unit 0 of the multiply-marked axis

    @property
    def name(self) -> str:
        return "F[" + ",".join(f"{axis_name(a)}:{m}" for a, m in self.signature) + "]"


def solve_signature(Ls: list[Layout], sig, samplers: list[Sampler], constant: bool = False) -> Family:
    """Pattern coefficients that solve eq. (1) at every reduced width given (width-independent);
    ``constant``: translations only (patterns of c, none of A).

    Rows are sampled until the null space survives a fresh batch of rows: rows of one sample
    point are correlated and piecewise σ make some points uninformative, so a row count equal
    to the unknowns is not enough by itself."""
    pats_full = [patterns(L, sig) for L in Ls]
    if constant:
        pats_full = [({k: v for k, v in p.items() if k[1] is None}, {k for k in f if k[1] is None})
                     for p, f in pats_full]
    full = pats_full[0][1]
    if not full:
        return Family(sig, [], [], (0.0, 1.0))
    # the patterns that touch no mark first, most entries first, then the mark-touching ones: the
    # echelon rows that pivot on the former hold the copies of fields with fewer marks (repeats,
    # removed by prune), and the rows pivoting on mark-touching patterns are zero on them, so a
    # unit's rescaling is not mixed with a whole-layer scaling or a field along the loss's flat
    # translations that holds a whole block
    rest = sorted(set(pats_full[0][0]) - full, key=lambda k: (-len(pats_full[0][0][k][0]), repr(k)))
    keys = rest + sorted(full, key=repr)
    n_full, n = len(full), len(keys)

    def system(lo, hi):
        out = []
        for (pats, _), sampler in zip(pats_full, samplers):
            G, T, C = sampler.rows(hi)
            out.append(_system([pats.get(k) for k in keys], G[lo:hi], T[lo:hi], C[lo:hi]))
        return np.vstack(out)

    rows = n + 40
    unclear = None
    for _ in range(5):
        M = system(0, rows)
        try:
            V, gap, scale = _null(M, sig)
        except GlobalSearchError as exc:    # no clear gap yet: rows of few sample points are
            unclear, rows = exc, rows * 2   # correlated (more so with the flat constraint rows)
            continue
        unclear = None
        extra = system(rows, rows + n // 2 + 40) / scale
        # a true null direction leaves rounding only (≲ 1e-12 relative, as in the SVD)
        if not len(V) or np.abs(extra @ (V * scale).T).max() <= 1e3 * RTOL * np.abs(extra).max():
            break
        rows *= 2
    else:
        raise unclear or GlobalSearchError(f"family {Family(sig, [], [], gap).name}: the sampled null space "
                                           "does not settle under more samples")
    vecs = _rational_rref(V, Family(sig, [], [], gap).name) if len(V) else []
    vecs = [v for v in vecs if any(v[n - n_full:])]      # rows touching no mark: copies of F[]
    return Family(sig, keys, vecs, gap)


def _null(M: np.ndarray, sig):
    """(null basis in unscaled coordinates, relative singular-value gap, column scale)."""
    try:
        return scaled_null(M, RTOL, GRAM_RTOL)
    except NoClearGap as exc:
        raise GlobalSearchError(f"family {Family(sig, [], [], exc.gap).name}: no clear singular-value gap "
                                f"({exc.gap[0]:.1e} / {exc.gap[1]:.1e})") from None


# -- members: a family at given marks, at any widths ------------------------------------------------
def entries(L: Layout, key, marks: dict, mk: tuple) -> list:
    """The (r, s) entries of pattern ``key`` at ``marks`` (s None: a c entry; ``mk``: the marks as
    a sorted tuple, the cache key), cached on L: the same (pattern, marks) recurs for every vector
    of a family."""
    ents = L.entries.get((key, mk))
    if ents is None:
        ents = L.entries[(key, mk)] = list(_entries(L, key, marks, {b.name: b for b in L.model.blocks}))
    return ents


def member(L: Layout, fam: Family, vec, marks: dict, name: str) -> Generator:
    g = Generator(name, fam.name)
    mk = tuple(sorted(marks.items()))
    for key, coef in zip(fam.keys, vec):
        if coef == 0:
            continue
        val = sp.Rational(coef.numerator, coef.denominator)
        for r, s in entries(L, key, marks, mk):
            g.add(r, s, val)
    return g


def member_mod(L: Layout, fam: Family, vec, marks: dict) -> dict[int, int]:
    """:func:`member` as the sparse vector :class:`Span` reduces, residues modulo its prime, without
    building a Generator of sympy numbers (prune instantiates tens of thousands of members)."""
    D, out = L.model.D, {}
    mk = tuple(sorted(marks.items()))
    for key, coef in zip(fam.keys, vec):
        if coef == 0:
            continue
        val = coef.numerator % SPAN_P * pow(coef.denominator % SPAN_P, SPAN_P - 2, SPAN_P) % SPAN_P
        for r, s in entries(L, key, marks, mk):
            k = D * D + r if s is None else r * D + s
            out[k] = (out.get(k, 0) + val) % SPAN_P
    return out


def _entries(L: Layout, key, marks: dict, blocks):
    t, s, labs, fx_t, fx_s = key
    model = L.model
    per_axis = []
    for a, lb in zip(L.free, labs):
        m = marks.get(a, ())
        n_lab = max(lb) + 1 if lb else 0
        fixed = {lb[len(lb) - len(m) + j]: v for j, v in enumerate(m)}
        free_labels = [x for x in range(n_lab) if x not in fixed]
        avail = [v for v in range(L.sizes[a]) if v not in set(m)]
        choices = []
        for perm in itertools.permutations(avail, len(free_labels)):
            val = dict(fixed)
            val.update(zip(free_labels, perm))
            choices.append(tuple(val[x] for x in lb))
        per_axis.append(choices)
    n_t = [sum(1 for k, _ in L.slots[t] if k == a) for a in L.free]
    n_s = [sum(1 for k, _ in L.slots[s] if k == a) for a in L.free] if s is not None else [0] * len(L.free)
    for combo in itertools.product(*per_axis):
        vt = [list(c[:n_t[i]]) for i, c in enumerate(combo)]
        vs = [list(c[n_t[i]:n_t[i] + n_s[i]]) for i, c in enumerate(combo)]
        r = _flat(L, t, vt, list(fx_t), model)
        q = _flat(L, s, vs, list(fx_s), model) if s is not None else None
        yield r, q


def _flat(L: Layout, block: str, free_vals: list, fixed_vals: list, model) -> int:
    """Flat parameter index of ``block`` at these axis values (row-major over its slots)."""
    strides = L.strides.get(block)
    if strides is None:
        pos = {a: i for i, a in enumerate(L.free)}
        sizes = [size for _, size in L.slots[block]]
        strides = L.strides[block] = [(pos[key] if key is not None else None, int(np.prod(sizes[j + 1:])))
                                      for j, (key, _) in enumerate(L.slots[block])]
    r = model.offsets[block]
    for p, stride in strides:
        r += (free_vals[p].pop(0) if p is not None else fixed_vals.pop(0)) * stride
    return r


def assignments(L: Layout, sig, anchored: bool = False):
    """Every choice of marks: unordered pairs for two marks on one axis (the family holds both
    orders).  ``anchored``: the first of ≥ 2 marks on an axis is unit 0 (see :func:`anchor`)."""
    per = []
    for a, m in sig:
        if anchored and m >= 2:
            per.append([(a, (0,) + c) for c in itertools.combinations(range(1, L.sizes[a]), m - 1)])
        else:
            per.append([(a, c) for c in itertools.combinations(range(L.sizes[a]), m)])
    for combo in itertools.product(*per):
        yield dict(combo)


def n_members(L: Layout, fams: list[Family]) -> int:
    return sum(len(f.vectors) * prod(comb(L.sizes[a] - (f.anchored and m >= 2), m - (f.anchored and m >= 2))
                                     for a, m in f.signature) for f in fams)


def _rank(L: Layout, fams: list[Family]) -> int:
    span = Span(L.model.D)
    return sum(span.add(member(L, f, v, m, "")) for f in fams for m in assignments(L, f.signature, f.anchored)
               for v in f.vectors)


def anchor(fams: list[Family], layouts: list[Layout]) -> None:
    """Use only the members through unit 0 of a family with ≥ 2 marks on an axis when, at every
    reduced width, they span what all its members span (the triangles E_kl − E_lk + ... through
    one vertex span the rotations of 1^⊥: C(n−1, 2) members instead of C(n, 3))."""
    for f in fams:
        if not any(m >= 2 for _, m in f.signature):
            continue
        full = [_rank(L, fams) for L in layouts]
        f.anchored = True
        if [_rank(L, fams) for L in layouts] != full:
            f.anchored = False


# -- certification ------------------------------------------------------------------------------------
def certify_exact(model, gens: list[Generator], seed: int) -> str:
    """Every generator vanishes on exact equations at fresh rational points (mod a second prime)."""
    D = model.D
    rng = np.random.default_rng([seed, 52])
    try:
        prob = model_problem(model)
        rows = np.vstack([sample_rows(prob, P2, rng)[0] for _ in range(3)])
    except NotExact:
        return certify_float(model, gens, seed)
    for g in gens:
        idx = [r * D + s for r, s in g.A] + [D * D + r for r in g.c]
        vals = [residue(v, P2) for v in g.A.values()] + [residue(v, P2) for v in g.c.values()]
        if matmul_mod(rows[:, idx], np.array(vals, dtype=np.int64)[:, None], P2).any():
            raise GlobalSearchError(f"structured generator {g.name} ({g.family}) fails the exact check")
    return "exact (mod p at fresh rational points)"


def certify_float(model, gens: list[Generator], seed: int, tol: float = 1e-9) -> str:
    """|S J X| ≤ tol·|S J|·|X| at fresh float points (rounding of O(D)-term sums, ≲ 1e-13)."""
    sampler = Sampler(model, seed + 1)
    G, T, _ = sampler.rows(max(8, 2 * len(sampler.S)))
    for g in gens:
        X = np.array([g.evaluate(t) for t in T[:: max(1, len(sampler.S))]])
        X = np.repeat(X, len(sampler.S), axis=0)[:len(G)]
        res = np.abs((G * X).sum(axis=1)) / (np.linalg.norm(X, axis=1) + 1e-300)
        if res.max() > tol:
            raise GlobalSearchError(f"structured generator {g.name} ({g.family}) is not a symmetry of the "
                                    f"full model (relative residual {res.max():.1e})")
    return f"float64 at fresh points (relative residual < {tol:g})"


def drop_flat(f: Family, L: Layout, flat: FlatTranslations) -> Family:
    """``f`` without its directions whose fields take every value in the flat translations T and
    are not constant (:mod:`.flat`: counted, not listed).  Exactly: the combinations of f's
    vectors with values in T (a float null space of their T⊥ components at L, rationalised) are
    split into their A parts (dropped) and c parts (constant translations, kept); f's vectors are
    kept while independent modulo the dropped ones, each reduced modulo them to the fewest field
    entries (the solver's echelon basis mixes a unit's rescaling with such fields)."""
    gens = [member(L, f, v, _marks(f.signature), "") for v in f.vectors]
    null = flat.valued_combinations(gens)
    if not len(null):
        return f
    combos = _rational_rref(null, f.name)
    is_c = [k[1] is None for k in f.keys]
    dropped, consts = [], []
    nz = [[(j, y) for j, y in enumerate(v) if y] for v in f.vectors]
    for a in combos:
        w = [Fraction(0)] * len(f.keys)
        for x, pairs in zip(a, nz):
            for j, y in (pairs if x else ()):
                w[j] += x * y
        dropped.append([0 if c else x for x, c in zip(w, is_c)])
        consts.append([x if c else 0 for x, c in zip(w, is_c)])
    Kq, _ = rational_rref([d for d in dropped if any(d)], len(f.keys))
    K = [[Fraction(int(x.numerator), int(x.denominator)) for x in row] for row in Kq]
    marks = _marks(f.signature)
    weight = [len(entries(L, k, marks, tuple(sorted(marks.items())))) for k in f.keys]
    cands = [c for c in consts if any(c)] + list(f.vectors)
    new = [i - len(K) for i in first_independent(K + cands, len(f.keys)) if i >= len(K)]
    kept = [_sparsest(cands[i], K, Kq, weight) for i in new]
    return Family(f.signature, f.keys, kept, f.gap, f.anchored)


def _sparsest(v: list, K: list, Kq: list, weight: list[int]) -> list:
    """v minus a combination of the rows of K with fewer field entries: K's echelon form with v's
    heaviest patterns as pivots clears them, then single rows are subtracted while that lowers
    Σ weight over v's nonzero coefficients (weight: a pattern's entries; patterns partition them).
    ``Kq``: K as QQ elements (the elimination's input, converted once)."""
    def size(u):
        return sum(w for x, w in zip(u, weight) if x != 0)
    order = sorted(range(len(v)), key=lambda p: (-(weight[p] if v[p] != 0 else 0), -weight[p], p))
    R, piv = rational_rref([[row[p] for p in order] for row in Kq], len(v))
    u = list(v)
    for row, c in zip(R, piv):
        p = order[c]
        if u[p] != 0:
            f = u[p] / Fraction(int(row[c].numerator), int(row[c].denominator))
            for j, x in enumerate(row):
                u[order[j]] -= f * Fraction(int(x.numerator), int(x.denominator))
    v = u if size(u) < size(v) else list(v)
    better = True
    while better:
        better = False
        for row in K:
            for p in np.flatnonzero([x != 0 for x in row]):
                if v[p] == 0:
                    continue
                w = [x - v[p] / row[p] * y for x, y in zip(v, row)]
                if size(w) < size(v):
                    v, better = w, True
                    break
    return v


def flat_fields(L: Layout, trans: list[Family]) -> list[dict[int, int]]:
    """The non-constant fields with values in the flat translations at L's widths, as
    :class:`Span` vectors: θ ↦ t·θ_s for every translation t and coordinate s (exact, from the
    members; the constant ones stay listed)."""
    D, out = L.model.D, []
    for f in trans:
        for m in assignments(L, f.signature):
            for v in f.vectors:
                t = {k - D * D: x for k, x in member_mod(L, f, v, m).items()}      # c entries only
                out += [{r * D + s: x for r, x in t.items()} for s in range(D)]
    return out


def prune(fams: list[Family], L: Layout, seed: list[dict[int, int]] = ()) -> list[Family]:
    """Keep a family vector only if its members at L's widths add to the span of those kept
    before it (fewest marks first): sums over marks of a family (Σ_k X_k) reappear as vectors of
    smaller signatures, and the patterns that leave a mark out repeat smaller families."""
    span, out = Span(L.model.D), []
    for v in seed:          # vectors counted elsewhere (the flat fields): a family repeating them is dropped
        span.add_vector(v)
    for f in sorted(fams, key=lambda f: (sum(m for _, m in f.signature), len(f.signature))):
        keep = []
        canon = [member_mod(L, f, v, _marks(f.signature)) for v in f.vectors]
        # fewest field entries first: an echelon row can be a copy of a smaller family plus a new
        # field; taken after the new field alone, it is the repeat
        # with at most one mark per axis the members of a vector are its canonical member under
        # every relabelling of units, and the span (every member of what it holds, each family's
        # vector space closed under swapping marks) is invariant under relabelling: if the
        # canonical member is in it, all are, and one member decides a repeat.  Two marks on an
        # axis are taken unordered, so a vector's members are not closed under relabelling (E_kl,
        # k < l, without E_lk): all of them are checked
        one_each = all(m <= 1 for _, m in f.signature)
        before = span.snapshot() if not one_each else None
        for k in sorted(range(len(canon)), key=lambda k: len(canon[k])):
            v = f.vectors[k]
            if one_each:
                if span.contains_vector(canon[k]):
                    continue
                keep.append(v)
                for m in assignments(L, f.signature):
                    span.add_vector(member_mod(L, f, v, m))
            else:
                # a vector whose canonical member in every order of its marks lies in what was
                # there before this family (an invariant span) repeats it: every member is one of
                # those relabelled.  The others are checked member by member
                orders = [dict(zip((a for a, _ in f.signature), p)) for p in
                          itertools.product(*(itertools.permutations(range(m)) for _, m in f.signature))]
                if all(before.contains_vector(member_mod(L, f, v, o)) for o in orders):
                    continue
                if any([span.add_vector(member_mod(L, f, v, m)) for m in assignments(L, f.signature)]):
                    keep.append(v)
        if keep:
            out.append(Family(f.signature, f.keys, keep, f.gap))
    return out


# -- the method -------------------------------------------------------------------------------------
@dataclass
class StructuredResult:
    families: list[Family]
    members: int
    exact: object | None              # ExactResult of the explicit members (None beyond MAX_MEMBERS)
    reduced_D: int
    widths: dict
    certified: str
    notes: list[str] = field(default_factory=list)
    flat_members: int = 0             # fields with values in the flat translations, counted, not listed


def flat_basis(L: Layout, trans: list[Family]) -> np.ndarray:
    """Orthonormal rows spanning the translations of ``trans`` at L's widths."""
    C = np.array([[float(v) for v in member(L, f, vec, m, "").evaluate(np.zeros(L.model.D))]
                  for f in trans for m in assignments(L, f.signature) for vec in f.vectors])
    return float_row_basis(C, 1e-9)      # small-integer translations: rank gap is wide


def structured(model, seed: int = 0) -> StructuredResult:
    """Families at reduced widths, lifted (see the module docstring).

    Translations first: the constant fields the loss cannot see (cross-entropy's shift of every
    logit, a key bias attention ignores) span a subspace T along which L is flat everywhere, so
    *every* field with values in T is a symmetry: every θ-multiple of a translation, which would
    be listed as hundreds of thousands of members.  The families are therefore solved with the
    extra rows tᵀAu = 0 (t in T, u ⊥ T): a field's T-component may depend on θ only through T's
    own coordinates (every symmetry is such a field plus a field θ ↦ t·(u·θ), u ⊥ T).  The
    constraint keeps the families width-independent (the rescaling of a unit feeding the logits
    stays one family; projecting its values onto T⊥ would not).  The remaining non-constant fields
    with values in T (θ ↦ t·(u·θ), u in T) are then dropped from the families (:func:`drop_flat`),
    so the constant translations and the fields with values outside T are listed, and
    dim = rank(listed modulo the fields with values in T) + dim T·(D + 1), the fields not listed
    being counted (``flat_members``)."""
    widths = reduction_widths(model)
    small = reduced_model(model, widths)
    Ls = layout(small)
    sampler = Sampler(small, seed)
    layouts, samplers = [Ls], [sampler]
    L = layout(model)
    wider = {k: w + 1 for k, w in widths.items() if L.sizes.get(k, w) > w}
    if wider:       # a second reduced width: keep only width-independent coefficients
        big = reduced_model(model, {**widths, **wider})
        layouts.append(layout(big))
        samplers.append(Sampler(big, seed + 7))
    sigs = signatures(Ls.free)
    trans = prune([f for f in (solve_signature(layouts, sig, samplers, constant=True) for sig in sigs)
                   if f.vectors], layouts[-1])
    flat_dim, notes = 0, []
    if L.free:
        notes.append("complete among fields with at most three marked units (checked against the global "
                     "search on small models, not proved)")
    if trans:
        for lay, smp in zip(layouts, samplers):
            smp.constrain(flat_basis(lay, trans))
        flat_dim = _rank(L, trans)       # the families overlap (Σ_j 1e_jᵀ = 11ᵀ): their span
    fams = [solve_signature(layouts, sig, samplers) for sig in sigs]
    fams = prune([f for f in fams if f.vectors], layouts[-1])
    if trans:
        small_flat = FlatTranslations(flat_basis(layouts[-1], trans))
        fams = [f for f in (drop_flat(f, layouts[-1], small_flat) for f in fams) if f.vectors]
        # again, modulo the flat fields: a vector that was new only through a flat part (a
        # gl(h) element of three marked units plus a field along T) repeats the others
        fams = prune(fams, layouts[-1], flat_fields(layouts[-1], trans))
    anchor(fams, layouts)
    small_gens = [member(Ls, f, v, m, f"{f.name}{j}") for f in fams for j, v in enumerate(f.vectors)
                  for m in [_marks(f.signature)]]
    cert = certify_exact(small, small_gens, seed) if small_gens else "nothing to certify"
    total = n_members(L, fams)
    flat_members = flat_dim * model.D
    if flat_dim:
        notes.append(f"the loss is flat along {flat_dim} translations t, listed; every field with values in them "
                     f"is a symmetry, and the {flat_dim} x {model.D} = {flat_members} fields θ ↦ t·(u·θ) are "
                     "counted in dim but not listed")
    if total > MAX_MEMBERS:
        return StructuredResult(fams, total, None, small.D, widths, cert,
                                notes + [f"{total} family members > {MAX_MEMBERS}: explicit generators, orbit rank "
                                         "and charges are not built; the families are exact"], flat_members)
    gens = []
    for f in fams:
        for m in assignments(L, f.signature, f.anchored):
            tag = ",".join(f"{v}" for _, v in sorted(m.items())) if m else ""
            for j, v in enumerate(f.vectors):
                gens.append(member(L, f, v, m, f"{f.name}{j}({tag})"))
    if model.D != small.D:
        certify_float(model, gens, seed)
    # fewest entries first: a whole-layer scaling is the sum of its units' rescalings, and the
    # units' stay (their charges are the per-unit ones)
    gens = independent(sorted(gens, key=lambda g: len(g.A) + len(g.c)), model.D)
    for n, g in enumerate(gens):
        g.name = f"G{n}"
    if flat_dim:     # dim = (listed, modulo the fields with values in T) + dim T·(D + 1)
        full = FlatTranslations(flat_basis(L, trans))
        dim = full.rank_modulo(gens, np.random.default_rng([seed, 53])) + flat_dim * (model.D + 1)
        flat_members = dim - len(gens)
    res = summarise(gens, model.symbols, 0, len(sampler.G), "structured (orbit-basis families)", seed)
    return StructuredResult(fams, total, res, small.D, widths, cert, notes, flat_members)


def describe_family(f: Family, vec) -> str:
    """A readable pattern sum: coef·[t ← s | labels] terms."""
    parts = []
    for key, c in zip(f.keys, vec):
        if c:
            t, s, labs, _, _ = key
            parts.append(f"{c}*{t}{'<-' + s if s else ''}{list(labs) if any(labs) else ''}")
    return " + ".join(parts[:6]) + (" + ..." if len(parts) > 6 else "")

