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
