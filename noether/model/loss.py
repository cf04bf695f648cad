"""Losses.  L(θ) = (1/N) Σ_n ℓ(f(x_n), y_n); one class per loss, registered by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import sympy as sp


class Loss(ABC):
    name: ClassVar[str]
    registry: ClassVar[dict[str, type[Loss]]] = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "name" in cls.__dict__:
            Loss.registry[cls.name] = cls

    @abstractmethod
    def value(self, F: np.ndarray, Y: np.ndarray) -> float: ...

    @abstractmethod
    def grad(self, F: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """dL/dF for the batch mean."""

    @abstractmethod
    def symbolic(self, f: list[sp.Expr], y: list[sp.Expr]) -> sp.Expr:
        """Per-sample loss ℓ(f, y)."""

    @abstractmethod
    def kernel(self, F: str, Y: str, dF: str) -> str:
        """A numba expression returning the loss and writing dL/dF into ``dF``."""

    def sensitivity(self, out: int) -> list[list[int]]:
        """Integer rows spanning every output gradient ∂ℓ/∂f the targets y can produce.

        A generator is a symmetry iff S J_f X = 0 (docs/theory.md eq. (1)).  For ½‖f − y‖² with y free
        this is all of R^out.
        """
        return [[int(i == j) for j in range(out)] for i in range(out)]


class MSE(Loss):
    """ℓ = ½‖f − y‖²; the batch loss is the mean over samples."""

    name = "mse"

    def value(self, F, Y):
        return 0.5 * float(np.sum((F - Y) ** 2)) / F.shape[0]

    def grad(self, F, Y):
        return (F - Y) / F.shape[0]

    def kernel(self, F, Y, dF):
        return f"mse_loss_grad({F}, {Y}, {dF})"

    def symbolic(self, f, y):
        return sum(((fi - yi) ** 2 for fi, yi in zip(f, y)), sp.Integer(0)) / 2


class CrossEntropy(Loss):
    """Softmax cross-entropy ℓ = −Σ_i y_i log softmax(f)_i (one-hot targets; soft ones accepted).

    ∂ℓ/∂f = (Σy) softmax(f) − y sums to zero for every y, so the loss cannot see f → f + s·1
    (Kunin et al. 2021, translation symmetry of the classifier).
    """

    name = "cross_entropy"

    def value(self, F, Y):
        m = F.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(F - m).sum(axis=1))
        return float(np.sum(Y.sum(axis=1) * lse - (Y * F).sum(axis=1))) / F.shape[0]

    def grad(self, F, Y):
        m = F.max(axis=1, keepdims=True)
        e = np.exp(F - m)
        P = e / e.sum(axis=1, keepdims=True)
        return (Y.sum(axis=1, keepdims=True) * P - Y) / F.shape[0]

    def kernel(self, F, Y, dF):
        return f"ce_loss_grad({F}, {Y}, {dF})"

    def symbolic(self, f, y):
        lse = sp.log(sum((sp.exp(fi) for fi in f), sp.Integer(0)))
        return sum((yi * (lse - fi) for fi, yi in zip(f, y)), sp.Integer(0))

    def sensitivity(self, out):
        # (Σy)p − y spans the sum-zero vectors as y runs over one-hot targets (any out ≥ 2)
        return [[int(j == i) - int(j == out - 1) for j in range(out)] for i in range(out - 1)]
