"""Optimizers as symbolic update rules: one file each, registered by name.

Each rule declares the hyperparameters it reads (:mod:`noether.optim.hyper`); the constructor,
validation, kernel arguments and command-line flags come from those declarations.  The same rule
drives the law derivation (:mod:`noether.derive.laws`) and the numba kernels.
"""

from .adam import Adam, AdamW
from .base import OPTIMIZERS, UpdateRule
from .gd import GD, SGD
from .hyper import HYPER, HYPERS, Hyper, declare
from .momentum import Momentum
from .nesterov import Nesterov
from ..errors import SpecError
import importlib
import pkgutil

# Every other module of this package is imported too, so that a new rule (and any hyperparameter
# it declares) is one file here: defining the class registers it, declaring the Hyper adds its flag.
for _m in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["GD", "SGD", "Momentum", "Nesterov", "Adam", "AdamW", "HYPER", "HYPERS", "Hyper", "OPTIMIZERS",
           "UpdateRule", "declare", "make_rule"]


def make_rule(name: str, **hyper) -> UpdateRule:
    """The rule called ``name`` with hyperparameters; one-line SpecError for an unknown name."""
    if name not in OPTIMIZERS:
        raise SpecError("--optimizer", f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](**hyper)
