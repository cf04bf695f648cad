"""The finite action θ ↦ exp(Σ_k t_k X_k) θ of derived generators X_k(θ) = A_k θ + c_k, exactly.

The flow of an affine field for unit time is θ ↦ e^{A}θ + φ(A)c, read off the matrix exponential
of the augmented matrix [[A, c], [0, 0]] (``scipy.linalg.expm``).  Generators are split, from their
coefficients alone (no layer names), into

* *diagonal* ones (A diagonal, c = 0: per-unit scalings of any layer type), which commute: their
  element is the closed form θ_i ↦ e^{s_i} θ_i with s = Σ_k t_k diag(A_k), O(nnz);
* the rest, grouped into connected components of their joint support, each exponentiated as one
  dense augmented matrix.

An element is the product exp(diagonal part) ∘ exp(rest) (coordinates of the second kind: still an
exact group element, equal to exp(Σ t_k X_k) when the two parts commute).  Inverses are
exp(−·), never a first-order ``I − T`` (cf. Zhao et al., NeurIPS 2022, whose reference code uses it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from ..derive.span import diagonal_first
from ..errors import SpecError

#: largest dense component (rows of one augmented matrix) exponentiated; 3000² float64 = 72 MB
MAX_BLOCK = 3000


@dataclass
class _Block:
    idx: np.ndarray          # parameter indices of the component
    gens: list               # generator numbers (into GroupAction.generators)
    A: np.ndarray            # (len(gens), n, n) dense A_k restricted to idx
    c: np.ndarray            # (len(gens), n)


@dataclass
class GroupElement:
    """θ ↦ M θ + b as factors applied in order: ("diag", s) is θ ↦ e^{s} ⊙ θ and
    ("block", idx, M, Minv, b) is θ[idx] ↦ M θ[idx] + b.  ``then`` composes by concatenation."""
    D: int
    factors: list = field(default_factory=list)

    def apply(self, theta: np.ndarray) -> np.ndarray:
        out = np.array(theta, dtype=float, copy=True)
        for f in self.factors:
            if f[0] == "diag":
                out *= np.exp(f[1])
            else:
                out[f[1]] = f[2] @ out[f[1]] + f[4]
        return out

    def linear(self, v: np.ndarray) -> np.ndarray:
        """M v (the linear part: how a parameter difference, e.g. a GD step, transforms)."""
        out = np.array(v, dtype=float, copy=True)
        for f in self.factors:
            if f[0] == "diag":
                out *= np.exp(f[1])
            else:
                out[f[1]] = f[2] @ out[f[1]]
        return out

    def covector(self, g: np.ndarray) -> np.ndarray:
        """M^{-T} g: how a gradient (and a heavy-ball velocity) transforms, with the true inverse."""
        out = np.array(g, dtype=float, copy=True)
        for f in self.factors:
            if f[0] == "diag":
                out *= np.exp(-f[1])
            else:
                out[f[1]] = f[3].T @ out[f[1]]
        return out

    def then(self, other: GroupElement) -> GroupElement:
        """The element ``other ∘ self`` (self applied first)."""
        return GroupElement(self.D, self.factors + other.factors)


class GroupAction:
    """Exact finite action of a list of generators (``Generator`` objects with sympy A, c)."""

    def __init__(self, generators, D: int):
        self.generators = list(generators)
        self.D = D
        self.names = [g.name for g in self.generators]
        self.diagonal = [k for k, g in enumerate(self.generators)
                         if not g.c and all(r == s for r, s in g.A)]
        diag = set(self.diagonal)
        # diagonal generators as a dense (K_diag, D) table of exact coefficients, as float64
        self.a = np.zeros((len(self.diagonal), D))
        for row, k in enumerate(self.diagonal):
            for (r, _), v in self.generators[k].A.items():
                self.a[row, r] = float(v)
        self._diag_sweep = None
        self.blocks = self._components([k for k in range(len(self.generators)) if k not in diag])
        # numeric sparse form of every generator, for X_k(θ) and the quadratic forms vᵀA_k w
        self._rows, self._cols, self._vals, self._c = [], [], [], []
        for g in self.generators:
            rows, cols, vals, ci, cv = g.numeric()
            self._rows.append(rows), self._cols.append(cols), self._vals.append(vals)
            c = np.zeros(D)
            c[ci] = cv
            self._c.append(c)

    @property
    def dim(self) -> int:
        return len(self.generators)

    @property
    def diag_sweep(self) -> list:
        """The diagonal generators in colour classes of pairwise disjoint supports (greedy, in
        generator order; per-unit scalings of one layer can share a class), each class as sparse
        (rows, A, A⁺, A⁻, |A|, |a| if one magnitude per row else nan): an exact coordinate sweep
        updates a whole class at once.  Built once."""
        if self._diag_sweep is None:
            A = sparse.csr_matrix(self.a)
            colour_of, taken = [], []          # taken[c]: parameters the class already touches
            for k in range(A.shape[0]):
                sup = set(A.indices[A.indptr[k]:A.indptr[k + 1]].tolist())
                c = next((c for c, t in enumerate(taken) if not (t & sup)), len(taken))
                if c == len(taken):
                    taken.append(set())
                taken[c] |= sup
                colour_of.append(c)
            colour_of = np.array(colour_of, dtype=np.int64)
            out = []
            for c in range(len(taken)):
                rows = np.flatnonzero(colour_of == c)
                Ac = A[rows]
                mag = np.full(len(rows), np.nan)
                for i in range(len(rows)):
                    v = np.abs(Ac.data[Ac.indptr[i]:Ac.indptr[i + 1]])
                    if len(v) and np.all(v == v[0]):
                        mag[i] = v[0]
                out.append((rows, Ac, Ac.maximum(0).tocsr(), (-Ac).maximum(0).tocsr(), abs(Ac).tocsr(), mag))
            self._diag_sweep = out
        return self._diag_sweep

    def _components(self, ks) -> list[_Block]:
        parent = {}

        def find(x):
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x
        for k in ks:
            sup = sorted(self.generators[k].support)
            for q in sup[1:]:
                parent[find(q)] = find(sup[0])
            find(sup[0])
        comp: dict[int, list[int]] = {}
        for k in ks:
            comp.setdefault(find(min(self.generators[k].support)), []).append(k)
        blocks = []
        for gens in comp.values():
            idx = np.array(sorted({i for k in gens for i in self.generators[k].support}), dtype=np.int64)
            if len(idx) + 1 > MAX_BLOCK:
                raise SpecError("model", f"a non-abelian symmetry block spans {len(idx)} parameters; "
                                f"exact exponentials are built up to {MAX_BLOCK - 1}")
            pos = {int(i): p for p, i in enumerate(idx)}
            A = np.zeros((len(gens), len(idx), len(idx)))
            c = np.zeros((len(gens), len(idx)))
            for q, k in enumerate(gens):
                for (r, s), v in self.generators[k].A.items():
                    A[q, pos[r], pos[s]] = float(v)
                for r, v in self.generators[k].c.items():
                    c[q, pos[r]] = float(v)
            blocks.append(_Block(idx, gens, A, c))
        return blocks

    # -- the group ------------------------------------------------------------------------------
    def element(self, t: np.ndarray) -> GroupElement:
        """exp(Σ diagonal t_k X_k) ∘ exp(Σ other t_k X_k), exactly (expm of augmented blocks)."""
        from scipy.linalg import expm      # scipy.linalg is slow to import; only actions need it
        t = np.asarray(t, dtype=float)
        if t.shape != (self.dim,):
            raise SpecError("t", f"must have {self.dim} Lie-algebra coordinates, got shape {t.shape}")
        factors = []
        for blk in self.blocks:
            tk = t[blk.gens]
            if not np.any(tk):
                continue
            n = len(blk.idx)
            aug = np.zeros((n + 1, n + 1))
            aug[:n, :n] = np.tensordot(tk, blk.A, 1)
            aug[:n, n] = tk @ blk.c
            E = expm(aug)
            Einv = expm(-aug)
            factors.append(("block", blk.idx, E[:n, :n], Einv[:n, :n], E[:n, n]))
        if self.diagonal and np.any(t[self.diagonal]):
            factors.append(("diag", t[self.diagonal] @ self.a))
        return GroupElement(self.D, factors)

    def scaling(self, s: np.ndarray) -> GroupElement:
        """The diagonal element θ ↦ e^{s} ⊙ θ for log-scales s in the span of the diagonal generators."""
        return GroupElement(self.D, [("diag", np.asarray(s, dtype=float))])

    def identity(self) -> GroupElement:
        return GroupElement(self.D, [])

    # -- the algebra at a point ----------------------------------------------------------------
    def quad(self, u: np.ndarray, w: np.ndarray) -> np.ndarray:
        """(uᵀ A_k w)_k for every generator."""
        return np.array([np.dot(u[r] * v, w[c]) for r, c, v in zip(self._rows, self._cols, self._vals)])

    def fields(self, theta: np.ndarray) -> np.ndarray:
        """(K, D) rows X_k(θ) = A_k θ + c_k."""
        out = np.array(self._c)
        for k, (r, c, v) in enumerate(zip(self._rows, self._cols, self._vals)):
            np.add.at(out[k], r, v * theta[c])
        return out.reshape(len(self.generators), self.D)


def group_action(deriv, which: str = "all") -> GroupAction:
    """The action of a Derivation's explicit generators: ``all``, ``diagonal`` (the scalings, an
    abelian subgroup) or ``rotations`` (antisymmetric combinations: orthogonal elements)."""
    alg = deriv.algebra
    if not alg.explicit:
        raise SpecError("model", "the derivation built no explicit generators for this model "
                        f"({'; '.join(alg.notes) or 'too large'}); group actions need them")
    if which == "rotations":
        gens = list(deriv.rotations)
    elif which in ("all", "diagonal"):
        # a basis of the same algebra with the scalings alone (the abelian part) and the rest in
        # small blocks: the derivation's basis may mix them, and one mixed generator makes every
        # group element an exponential over all parameters
        gens = diagonal_first(list(alg.generators), deriv.model.D)
        if which == "diagonal":
            gens = [g for g in gens if not g.c and all(r == s for r, s in g.A)]
    else:
        raise SpecError("which", f"accepted: all, diagonal, rotations; got {which!r}")
    return GroupAction(gens, deriv.model.D)
