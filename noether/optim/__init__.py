"""Optimizers as symbolic update rules: one file each, registered by name.

The same rule drives the law derivation (:mod:`noether.derive.laws`) and the numba kernels.
"""

from .base import OPTIMIZERS, UpdateRule
from .gd import GD

__all__ = ["GD", "OPTIMIZERS", "UpdateRule"]
