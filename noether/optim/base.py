"""The optimizer extension point: an update rule written per coordinate in sympy.

A rule maps the per-coordinate values of step k (``theta``, ``g`` = ∂L/∂θ at θ_k, and any state
such as ``v``) to those of step k+1.  The same expressions drive both the law derivation
(:mod:`noether.derive.laws`, which needs them linear in the vectors) and the numba kernels
(:func:`noether.kernels.codegen.rule_module_source` prints them into a step function).

Hyperparameters are symbols (η, β, τ, λ, β₂, ε); ``first`` is 1 at step 0 and 0 after (PyTorch
initialises the momentum buffer with the undampened gradient); ``k`` is the 0-based step.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import sympy as sp

from ..errors import SpecError

OPTIMIZERS: dict[str, type[UpdateRule]] = {}

eta = sp.Symbol("eta", positive=True)
beta = sp.Symbol("beta", nonnegative=True)
tau = sp.Symbol("tau", nonnegative=True)
lam = sp.Symbol("lambda", nonnegative=True)
beta2 = sp.Symbol("beta2", nonnegative=True)
eps = sp.Symbol("epsilon", positive=True)
first = sp.Symbol("first", nonnegative=True)
step = sp.Symbol("k", integer=True, nonnegative=True)

#: hyperparameter name -> symbol; the kernels receive them as ``hp[i]`` in this order.
HYPER = {"lr": eta, "momentum": beta, "dampening": tau, "weight_decay": lam, "beta2": beta2, "eps": eps}


def vec(name: str) -> sp.Symbol:
    """The per-coordinate value of a named vector at step k (``theta``, ``g``, ``v``, ...)."""
    return sp.Symbol(name)


def update_signature(rule) -> tuple:
    """The rule's update expressions, hashable and comparable (what a kernel is printed from)."""
    return tuple(sorted((str(k), sp.srepr(sp.sympify(v))) for k, v in rule.update().items()))


def rule_key(rule) -> tuple:
    """Hashable identity of a rule, for memoising what is derived or compiled from it: its class,
    variant, hyperparameter values and its update expressions themselves (so that a user rule with
    constructor arguments outside ``values()`` gets a key per instance behaviour)."""
    return (type(rule), getattr(rule, "variant", rule.name),
            tuple(sorted((str(k), float(v)) for k, v in rule.values().items())), update_signature(rule))


class UpdateRule(ABC):
    """Base class; subclasses set ``name`` (registered) and ``state`` and implement ``update``."""

    name: ClassVar[str]
    #: state vectors carried between steps, besides theta
    state: ClassVar[tuple[str, ...]] = ()
    #: default heavy-ball / first-moment coefficient
    default_momentum: ClassVar[float] = 0.0
    #: full-batch unless the run is given a batch size
    minibatch: ClassVar[bool] = False
    #: decoupled weight decay forced (AdamW)
    force_decoupled: ClassVar[bool] = False
    nesterov: ClassVar[bool] = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "name" in cls.__dict__:
            OPTIMIZERS[cls.name] = cls

    def __init__(self, lr: float = 0.05, momentum: float | None = None, dampening: float = 0.0,
                 weight_decay: float = 0.0, decoupled: bool = False, beta2: float = 0.999,
                 eps: float = 1e-8):
        self.lr = lr
        self.momentum = self.default_momentum if momentum is None else momentum
        self.dampening = dampening
        self.weight_decay = weight_decay
        self.decoupled = bool(decoupled or self.force_decoupled)
        self.beta2 = beta2
        self.eps = eps
        self.check()

    # -- validation ---------------------------------------------------------------------------
    def check(self) -> None:
        def num(field, v):
            if not (isinstance(v, int | float) and math.isfinite(v)):
                raise SpecError(field, f"must be a finite number, got {v!r}")
        for field, v in [("--lr", self.lr), ("--momentum", self.momentum), ("--dampening", self.dampening),
                         ("--weight-decay", self.weight_decay)]:
            num(field, v)
        if self.lr <= 0:
            raise SpecError("--lr", f"must be > 0, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise SpecError("--momentum", f"must lie in [0, 1), got {self.momentum!r}")
        if not 0 <= self.dampening <= 1:
            raise SpecError("--dampening", f"must lie in [0, 1], got {self.dampening!r}")
        if self.weight_decay < 0:
            raise SpecError("--weight-decay", f"must be >= 0, got {self.weight_decay!r}")
        if not 0 <= self.beta2 < 1:
            raise SpecError("--beta2", f"must lie in [0, 1), got {self.beta2!r}")

    # -- the rule -----------------------------------------------------------------------------
    def effective_grad(self) -> sp.Expr:
        """g, plus λθ when the weight decay is coupled (added to the gradient)."""
        return vec("g") if self.decoupled else vec("g") + lam * vec("theta")

    def decay(self, theta_next: sp.Expr) -> sp.Expr:
        """Decoupled weight decay subtracts ηλθ_k from the step (Loshchilov & Hutter 2019)."""
        return theta_next - eta * lam * vec("theta") if self.decoupled else theta_next

    @abstractmethod
    def update(self) -> dict[str, sp.Expr]:
        """{vector: its value at step k+1 as an expression in step-k values}, theta included."""

    @property
    def variant(self) -> str:
        """Kernel name: the rule's structure (hyperparameter values are runtime arguments)."""
        return self.name + ("_dec" if self.decoupled else "")

    def values(self) -> dict[sp.Symbol, float]:
        return {eta: self.lr, beta: self.momentum, tau: self.dampening, lam: self.weight_decay,
                beta2: self.beta2, eps: self.eps}

    def hp(self) -> list[float]:
        v = self.values()
        return [float(v[s]) for s in HYPER.values()]

    def hyperparameters(self) -> dict:
        return {"optimizer": self.name, "lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "weight_decay": self.weight_decay, "nesterov": self.nesterov, "decoupled": self.decoupled}

    def describe(self) -> str:
        return "; ".join(f"{k}_next = {v}" for k, v in self.update().items())
