"""One interface for the ways of finding a model's symmetry algebra.

As sympy.physics.mechanics has one interface for ``LagrangesMethod`` and ``KanesMethod``, each
derivation method is a :class:`Method` with an explicit forming step: ``applies(model)`` says
whether (and why not) it can derive the model, ``form(model, seed)`` returns the :class:`Formed`
algebra and charges, which :func:`noether.derive.derive` wraps into a ``Derivation``.  The
methods live in their own subpackages (``per_interface``, ``global_search``, ``structured``);
a new method is one more subclass, registered in :data:`noether.derive.derivation.METHODS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from .algebra import Algebra

#: Explicit expressions (JSON, per-parameter charges) only for models up to this many parameters.
EXPLICIT_D = 2000


@dataclass
class Formed:
    """What a method derives: the algebra, charge families (per-interface method only), explicit
    charges (None when not built), notes for the reader and extra JSON keys."""
    algebra: Algebra
    charge_families: list
    charges: list | None
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


class Method(ABC):
    """A derivation method (abstract): subclasses are final."""

    #: the name ``derive --method`` accepts
    name: ClassVar[str]

    @abstractmethod
    def applies(self, model) -> str | None:
        """None when this method can derive ``model``; else one line saying why not."""

    @abstractmethod
    def form(self, model, seed: int = 0) -> Formed:
        """Derive the algebra and charges of ``model`` (draws seeded by ``seed``)."""
