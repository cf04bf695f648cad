"""The optimizer extension point: an update rule written per coordinate in sympy.

A rule maps the per-coordinate values of step k (``theta``, ``g`` = ∂L/∂θ at θ_k, and any state
such as ``v``) to those of step k+1.  The same expressions drive both the law derivation
(:mod:`noether.derive.laws`, which needs them linear in the vectors) and the numba kernels
(:func:`noether.kernels.codegen.rule_module_source` prints them into a step function).

Hyperparameters are declared once (:mod:`noether.optim.hyper`) and appear in the expressions as
their symbols (η, β, τ, λ, β₂, ε); ``first`` is 1 at step 0 and 0 after (PyTorch
initialises the momentum buffer with the undampened gradient); ``k`` is the 0-based step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import sympy as sp

from ..errors import SpecError
from .hyper import DAMPENING, DECOUPLED, HYPER, HYPERS, LR, MOMENTUM, WEIGHT_DECAY, Hyper

OPTIMIZERS: dict[str, type[UpdateRule]] = {}

eta, beta, tau, lam = LR.symbol, MOMENTUM.symbol, DAMPENING.symbol, WEIGHT_DECAY.symbol
first = sp.Symbol("first", nonnegative=True)
step = sp.Symbol("k", integer=True, nonnegative=True)

__all__ = ["HYPER", "HYPERS", "OPTIMIZERS", "UpdateRule", "eta", "beta", "tau", "lam", "first", "step", "vec"]


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
    """Base class; subclasses set ``name`` (registered), ``hyper`` (the hyperparameters the rule
    reads, as declared :class:`~noether.optim.hyper.Hyper` data), ``state``, and implement
    ``update``.  The constructor takes every hyperparameter by name."""

    name: ClassVar[str]
    #: the hyperparameters this rule reads; the constructor accepts exactly these (and ``lr``)
    hyper: ClassVar[tuple[Hyper, ...]] = (LR, WEIGHT_DECAY, DECOUPLED)
    #: per-rule defaults that differ from the declarations' (e.g. momentum 0.9 for heavy ball)
    defaults: ClassVar[dict[str, float]] = {}
    #: state vectors carried between steps, besides theta
    state: ClassVar[tuple[str, ...]] = ()
    #: full-batch unless the run is given a batch size
    minibatch: ClassVar[bool] = False
    #: decoupled weight decay forced (AdamW)
    force_decoupled: ClassVar[bool] = False
    nesterov: ClassVar[bool] = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "name" in cls.__dict__:
            OPTIMIZERS[cls.name] = cls

    def __init__(self, **values):
        own = {h.name: h for h in self.hyper}
        for k, v in values.items():
            if v is None:
                continue                    # "not given": the default
            if k not in HYPERS:
                raise SpecError("--hyper", f"unknown hyperparameter {k!r}; {self.name} accepts {', '.join(own)}")
            if k not in own and v != self.defaults.get(k, HYPERS[k].default):
                # a value the rule would ignore is refused, not dropped
                raise SpecError(HYPERS[k].flag, f"{self.name} has no {k}; it accepts {', '.join(own)}")
        for h in HYPERS.values():         # every declared value is set, unused ones at their default
            v = values.get(h.name)
            if v is None or h.name not in own:
                v = self.defaults.get(h.name, h.default)
            setattr(self, h.name, h.check(v))
        if self.force_decoupled:
            self.decoupled = True
        self.check()

    # -- validation ---------------------------------------------------------------------------
    def check(self) -> None:
        """Constraints between hyperparameters (each one's own range is checked by its declaration)."""

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
        """symbol -> value of every numeric hyperparameter (what the laws substitute)."""
        return {sym: float(getattr(self, name)) for name, sym in HYPER.items()}

    def hp(self) -> list[float]:
        """The kernels' ``hp`` vector, in :data:`HYPER` order."""
        return [float(getattr(self, name)) for name in HYPER]

    def hyperparameters(self) -> dict:
        """The rule and the values of the hyperparameters it reads, for JSON."""
        return {"optimizer": self.name, **{h.name: getattr(self, h.name) for h in self.hyper},
                "nesterov": self.nesterov}

    def describe(self) -> str:
        return "; ".join(f"{k}_next = {v}" for k, v in self.update().items())
