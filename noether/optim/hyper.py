"""Optimizer hyperparameters as declared data.

A :class:`Hyper` names one hyperparameter once: its sympy symbol (what the law derivation and the
kernels see), its default, its accepted range and its help text.  Everything else is generated
from the declarations: the constructor and validation of :class:`~noether.optim.base.UpdateRule`,
the ``hp`` vector the kernels index, the JSON of a run, and the command-line flags of ``verify``,
``laws``, ``sweep``, ``train`` and ``claim`` (:func:`noether.commands._common.add_hyper_arguments`).

Declaring a new hyperparameter is one call to :func:`declare`, in the file of the rule that reads
it; the flag ``--NAME`` (underscores as dashes) then appears on every verb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from ..errors import SpecError

#: every declared hyperparameter, by name, in declaration order (the kernels' ``hp[i]`` order for
#: the numeric ones; new declarations are appended, so compiled indices stay valid)
HYPERS: dict[str, Hyper] = {}
#: numeric hyperparameter name -> symbol, the same order (a live view kept by :func:`declare`)
HYPER: dict[str, sp.Symbol] = {}


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter.  ``symbol`` is None for a structural switch (``kind=bool``), which
    changes the rule's expressions rather than a value in them."""

    name: str
    symbol: sp.Symbol | None
    default: float | bool
    help: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    kind: type = float

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def accepted(self) -> str:
        """The accepted range, as the one-line error says it."""
        if self.kind is bool:
            return "true or false"
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"

    def check(self, value):
        """``value`` validated (a one-line :class:`SpecError` naming the flag otherwise)."""
        if self.kind is bool:
            if not isinstance(value, bool | int) or value not in (0, 1):
                raise SpecError(self.flag, f"must be true or false, got {value!r}")
            return bool(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise SpecError(self.flag, f"must be a finite number, got {value!r}")
        lo_bad = value <= self.low if self.low_open else value < self.low
        hi_bad = value >= self.high if self.high_open else value > self.high
        if lo_bad or hi_bad:
            raise SpecError(self.flag, f"must be {self.accepted()}, got {value!r}")
        return value


def declare(h: Hyper) -> Hyper:
    """Register ``h`` (once per name) and return it."""
    old = HYPERS.get(h.name)
    if old is not None and old != h:
        raise ValueError(f"hyperparameter {h.name!r} is already declared differently")
    HYPERS[h.name] = h
    if h.symbol is not None:
        HYPER[h.name] = h.symbol
    return h


LR = declare(Hyper("lr", sp.Symbol("eta", positive=True), 0.05, "learning rate η", low=0.0, low_open=True))
MOMENTUM = declare(Hyper("momentum", sp.Symbol("beta", nonnegative=True), 0.0,
                         "momentum β (Adam: β1)", low=0.0, high=1.0, high_open=True))
DAMPENING = declare(Hyper("dampening", sp.Symbol("tau", nonnegative=True), 0.0, "momentum dampening τ",
                          low=0.0, high=1.0))
WEIGHT_DECAY = declare(Hyper("weight_decay", sp.Symbol("lambda", nonnegative=True), 0.0, "weight decay λ",
                             low=0.0))
DECOUPLED = declare(Hyper("decoupled", None, False, "decoupled weight decay (Loshchilov & Hutter 2019)",
                          kind=bool))
