"""The optimizer extension point: a linear update rule on named vectors.

A rule maps the vectors of step k (``theta``, ``g`` = ∇L(θ_k), and any state such as ``v``) to
those of step k+1, as linear combinations with sympy coefficients in the hyperparameters.  The
law derivation expands a charge along this rule; the kernels execute it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import sympy as sp

OPTIMIZERS: dict[str, type[UpdateRule]] = {}

eta = sp.Symbol("eta", positive=True)


class UpdateRule(ABC):
    name: ClassVar[str]
    #: state vectors carried between steps, besides theta
    state: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "name" in cls.__dict__:
            OPTIMIZERS[cls.name] = cls

    def __init__(self, lr: float = 0.05, **hyper):
        self.lr = lr
        self.hyper = hyper

    @property
    def symbols(self) -> dict[str, sp.Symbol]:
        return {"lr": eta}

    @abstractmethod
    def update(self) -> dict[str, dict[str, sp.Expr]]:
        """{next vector: {current vector: coefficient}}, e.g. theta' = theta − eta g."""

    def values(self) -> dict[sp.Symbol, float]:
        return {eta: self.lr}
