"""A linear-plus-affine vector field X(θ) = Aθ + c on parameter space, with exact coefficients."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp


@dataclass
class Generator:
    """X_r(θ) = Σ_s A[r, s] θ_s + c[r].  ``A`` and ``c`` are sparse dicts of sympy numbers."""

    name: str
    family: str
    A: dict[tuple[int, int], sp.Expr] = field(default_factory=dict)
    c: dict[int, sp.Expr] = field(default_factory=dict)

    def add(self, r: int, s: int | None, val) -> None:
        if val == 0:
            return
        if s is None:
            self.c[r] = self.c.get(r, 0) + val
            if self.c[r] == 0:
                del self.c[r]
        else:
            self.A[(r, s)] = self.A.get((r, s), 0) + val
            if self.A[(r, s)] == 0:
                del self.A[(r, s)]

    def __add__(self, other: Generator) -> Generator:
        return self.combine([(1, self), (1, other)], self.name, self.family)

    @staticmethod
    def combine(terms, name: str, family: str) -> Generator:
        g = Generator(name, family)
        for coef, x in terms:
            if coef == 0:
                continue
            for (r, s), v in x.A.items():
                g.add(r, s, coef * v)
            for r, v in x.c.items():
                g.add(r, None, coef * v)
        return g

    @property
    def support(self) -> set[int]:
        return {r for r, _ in self.A} | {s for _, s in self.A} | set(self.c)

    def antisymmetric_part(self) -> dict[tuple[int, int], sp.Expr]:
        """{(r, s): A[r,s] - A[s,r]} for r < s, nonzero entries only."""
        out = {}
        for r, s in set(self.A) | {(s, r) for r, s in self.A}:
            if r < s:
                w = self.A.get((r, s), 0) - self.A.get((s, r), 0)
                if w != 0:
                    out[(r, s)] = w
        return out

    @property
    def is_gradient(self) -> bool:
        """X = Aθ + c is a gradient field iff A is symmetric (docs/theory.md §3)."""
        return all(self.A.get((s, r), 0) == v for (r, s), v in self.A.items())

    def is_antisymmetric(self) -> bool:
        return all(self.A.get((s, r), 0) == -v for (r, s), v in self.A.items()) and not self.c

    def potential_terms(self) -> dict[tuple, sp.Expr]:
        """Coefficients of C = ½ θᵀAθ + cᵀθ by monomial, a monomial being ((index, exponent), ...)
        in increasing index: the charge without building a sympy expression."""
        half = sp.Rational(1, 2)
        out: dict[tuple, sp.Expr] = {}
        for (r, s), v in self.A.items():
            key = ((r, 2),) if r == s else ((min(r, s), 1), (max(r, s), 1))
            out[key] = out.get(key, 0) + half * v
        for r, v in self.c.items():
            out[((r, 1),)] = out.get(((r, 1),), 0) + v
        return {k: v for k, v in out.items() if v != 0}

    def potential(self, symbols) -> sp.Expr:
        """C = ½ θᵀAθ + cᵀθ (only meaningful when A is symmetric).  Built from the combined
        coefficients, one term per monomial: no expand of a many-thousand-term sum."""
        return sp.Add(*(v * sp.Mul(*(symbols[i] ** e for i, e in mon)) for mon, v in self.potential_terms().items()))

    def field_exprs(self, symbols, names) -> dict[str, sp.Expr]:
        rows: dict[int, sp.Expr] = {}
        for (r, s), v in self.A.items():
            rows[r] = rows.get(r, 0) + v * symbols[s]
        for r, v in self.c.items():
            rows[r] = rows.get(r, 0) + v
        return {names[r]: sp.expand(e) for r, e in sorted(rows.items())}

    def numeric(self):
        """(rows, cols, vals, cidx, cvals) float64 arrays for the kernels."""
        keys = sorted(self.A)
        rows = np.array([k[0] for k in keys], dtype=np.int64)
        cols = np.array([k[1] for k in keys], dtype=np.int64)
        vals = np.array([float(self.A[k]) for k in keys], dtype=np.float64)
        ck = sorted(self.c)
        return rows, cols, vals, np.array(ck, dtype=np.int64), np.array([float(self.c[k]) for k in ck])

    def matrix(self, D: int) -> np.ndarray:
        A = np.zeros((D, D))
        for (r, s), v in self.A.items():
            A[r, s] = float(v)
        return A

    def evaluate(self, theta: np.ndarray) -> np.ndarray:
        out = np.zeros_like(theta, dtype=float)
        for (r, s), v in self.A.items():
            out[r] += float(v) * theta[s]
        for r, v in self.c.items():
            out[r] += float(v)
        return out
