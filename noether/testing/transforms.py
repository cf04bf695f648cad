"""Finite transformations of parameter space, each with a readable ``claim`` text.

* :class:`GroupElement`: exp(tX) for an affine generator X(θ) = Aθ + c.  The flow is
  θ ↦ e^{tA}θ + (∫₀ᵗ e^{sA} ds) c, read off from the augmented matrix
  exp(t [[A, c], [0, 0]]) (Van Loan 1978, "Computing integrals involving the matrix exponential"),
  computed on the generator's support only.
* :class:`Permutation`, :class:`Flip`: the discrete symmetries of :mod:`noether.derive.discrete`.
* :class:`BlockMap`: a user's ``"W1 -> 2*W1; b1 -> 2*b1; W2 -> W2/2"`` (slices allowed), parsed by
  :mod:`.arrayexpr`, with an optional free scalar ``t``.
* :class:`Compose`: several of the above, applied right to left.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import sympy as sp

from ..errors import SpecError
from .arrayexpr import ArrayExpr, BlockContext
from .target import Layout
from ..model import Model
from ..derive.discrete import apply_permutation, apply_flip


class Transform:
    claim: str = "transformation"

    def apply(self, theta: np.ndarray) -> np.ndarray:  # flat float64 vector -> same
        raise NotImplementedError

    def __call__(self, theta):
        return self.apply(np.asarray(theta, dtype=float))

    def __repr__(self):
        return f"<{type(self).__name__}: {self.claim}>"


class AlgebraElement:
    """X = Σ a_k X_k, a numeric affine field on R^D (dense A restricted to its support)."""

    def __init__(self, D: int, A: dict, c: dict, label: str):
        self.D, self.label = D, label
        self.A = {k: float(v) for k, v in A.items() if float(v) != 0.0}
        self.c = {k: float(v) for k, v in c.items() if float(v) != 0.0}
        self.support = np.array(sorted({r for r, _ in self.A} | {s for _, s in self.A} | set(self.c)),
                                dtype=np.int64)

    @classmethod
    def combine(cls, D: int, coeffs, generators) -> AlgebraElement:
        A: dict = {}
        c: dict = {}
        terms = []
        for a, g in zip(coeffs, generators):
            a = float(a)
            if a == 0.0:
                continue
            terms.append(f"{a:g}*{g.name}")
            for k, v in g.A.items():
                A[k] = A.get(k, 0.0) + a * float(v)
            for k, v in g.c.items():
                c[k] = c.get(k, 0.0) + a * float(v)
        return cls(D, A, c, " + ".join(terms) or "0")

    def evaluate(self, theta: np.ndarray) -> np.ndarray:
        out = np.zeros(self.D)
        for (r, s), v in self.A.items():
            out[r] += v * theta[s]
        for r, v in self.c.items():
            out[r] += v
        return out

    def exp(self, t: float) -> GroupElement:
        return GroupElement(self, t)

    def __repr__(self):
        return f"<AlgebraElement {self.label}>"


class GroupElement(Transform):
    """exp(tX) acting on θ (affine X, augmented-matrix exponential on the support)."""

    def __init__(self, X: AlgebraElement, t: float):
        self.X, self.t = X, float(t)
        self.claim = f"exp({self.t:g} * ({X.label}))"
        S = X.support
        n = len(S)
        pos = {int(s): i for i, s in enumerate(S)}
        M = np.zeros((n + 1, n + 1))
        for (r, s), v in X.A.items():
            M[pos[r], pos[s]] = v
        for r, v in X.c.items():
            M[pos[r], n] = v
        self._E = scipy.linalg.expm(self.t * M) if n else np.eye(1)

    def apply(self, theta):
        out = np.array(theta, dtype=float)
        S = self.X.support
        if len(S):
            n = len(S)
            out[S] = self._E[:n, :n] @ out[S] + self._E[:n, n]
        return out


class Permutation(Transform):
    """Permute the hidden units of one interface (rows of W, b; columns of the next W)."""

    def __init__(self, model, interface, perm):
        self.model, self.itf, self.perm = model, interface, [int(p) for p in perm]
        self.claim = f"permute units of {interface.name} by {self.perm}"

    def apply(self, theta):
        return apply_permutation(self.model, theta, self.itf, self.perm)


class Flip(Transform):
    """The sign flip σ(−u) = aσ(u) + b of the given units of one interface."""

    def __init__(self, model, interface, units, a, b):
        self.model, self.itf, self.units, self.a, self.b = model, interface, [int(u) for u in units], a, b
        self.claim = f"flip units {self.units} of {interface.name} (sigma(-z) = {a}*sigma(z) + {b})"

    def apply(self, theta):
        for u in self.units:
            theta = apply_flip(self.model, theta, self.itf, u, self.a, self.b)
        return theta


class Compose(Transform):
    def __init__(self, *parts: Transform):
        self.parts = parts
        self.claim = " then ".join(p.claim for p in reversed(parts)) if parts else "identity"

    def apply(self, theta):
        for p in reversed(self.parts):
            theta = p.apply(theta)
        return theta


class BlockMap(Transform):
    """A parsed ``--map``: simultaneous assignments ``TARGET -> EXPR`` separated by ``;``.

    ``TARGET`` is a block, a block slice (``W1[0,:]``) or one parameter symbol; ``EXPR`` is an
    elementwise expression broadcast to the target's shape, evaluated on the *old* parameters.
    A free scalar ``t`` may appear; ``with_t(value)`` fixes it.
    """

    def __init__(self, text: str, ctx: BlockContext, field: str = "--map", t: float = 0.0):
        self.text, self.ctx, self.field, self.t = text, ctx, field, float(t)
        if not isinstance(text, str) or not text.strip():
            raise SpecError(field, "expected assignments such as 'W1 -> 2*W1; W2 -> W2/2'")
        D = len(ctx.symbols)
        index = {s: i for i, s in enumerate(ctx.symbols)}
        exprs: list[sp.Expr] = list(ctx.symbols)
        assigned: set[int] = set()
        for part in (p.strip() for p in text.split(";")):
            if not part:
                continue
            if part.count("->") != 1:
                raise SpecError(field, f"{part!r}: each assignment is 'TARGET -> EXPR', e.g. 'W1 -> 2*W1'")
            lhs, rhs = (s.strip() for s in part.split("->"))
            tgt = ArrayExpr.parse(lhs, ctx, field)
            targets = tgt.elements()
            if not all(isinstance(x, sp.Symbol) and x in index for x in targets.ravel()):
                raise SpecError(field, f"target {lhs!r} must be a block, a block slice or a parameter "
                                f"symbol; accepted: {ctx.accepted()}")
            val = ArrayExpr.parse(rhs, ctx, field)
            try:
                vals = np.broadcast_to(val.elements(), targets.shape)
            except ValueError:
                raise SpecError(field, f"{rhs!r} of shape {val.shape} does not fit target {lhs!r} "
                                f"of shape {targets.shape}") from None
            if any(x.has(sp.zoo, sp.nan, sp.oo, -sp.oo) for x in vals.ravel()):
                raise SpecError(field, f"{rhs!r} is not finite (division by zero?)")
            for s, v in zip(targets.ravel(), vals.ravel()):
                k = index[s]
                if k in assigned:
                    raise SpecError(field, f"{s} is assigned twice in {text!r}")
                assigned.add(k)
                exprs[k] = v
        if not assigned:
            raise SpecError(field, "no assignment found; use 'TARGET -> EXPR; ...'")
        self.uses_t = any(ctx.scalars["t"] in e.free_symbols for e in exprs) if "t" in ctx.scalars else False
        self.exprs = exprs
        self._changed = np.array(sorted(assigned), dtype=np.int64)
        self._fn = sp.lambdify([ctx.symbols, list(ctx.scalars.values())], [exprs[k] for k in self._changed],
                               modules=[{"Heaviside": lambda x, h0=0.5: np.heaviside(x, h0)}, "numpy"])
        self.D = D
        self._update_claim()

    def _update_claim(self):
        self.claim = self.text.strip() + (f"  (t = {self.t!r})" if self.uses_t else "")

    def with_t(self, t: float) -> BlockMap:
        new = object.__new__(BlockMap)
        new.__dict__.update(self.__dict__)
        new.t = float(t)
        new._update_claim()
        return new

    def apply(self, theta):
        theta = np.asarray(theta, dtype=float)
        if theta.shape[0] != self.D:
            raise SpecError(self.field, f"map is over {self.D} parameters, got {theta.shape[0]}")
        out = theta.copy()
        scal = [self.t if n == "t" else 0.0 for n in self.ctx.scalars]
        with np.errstate(all="ignore"):
            out[self._changed] = np.asarray(self._fn(list(theta), scal), dtype=float)
        return out


def block_map(text: str, model_or_params, field: str = "--map") -> BlockMap:
    """Parse a map for a Model (its blocks) or a user's params dict (its keys and shapes)."""
    layout = Layout.of_model(model_or_params) if isinstance(model_or_params, Model) \
        else Layout.of_params(model_or_params)
    return BlockMap(text, BlockContext(layout.blocks), field)
