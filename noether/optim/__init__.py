"""Optimizers as symbolic update rules: one file each, registered by name.

The same rule drives the law derivation (:mod:`noether.derive.laws`) and the numba kernels.
"""

from .adam import Adam, AdamW
from .base import HYPER, OPTIMIZERS, UpdateRule
from .gd import GD
from .momentum import Momentum
from .nesterov import Nesterov
from .sgd import SGD
from ..errors import SpecError

__all__ = ["GD", "SGD", "Momentum", "Nesterov", "Adam", "AdamW", "HYPER", "OPTIMIZERS", "UpdateRule",
           "make_rule"]


def make_rule(name: str, **hyper) -> UpdateRule:
    """The rule called ``name`` with hyperparameters; one-line SpecError for an unknown name."""
    if name not in OPTIMIZERS:
        raise SpecError("--optimizer", f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](**hyper)
