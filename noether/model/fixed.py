"""Seeded constants of the asymmetric layers (Lim et al. 2024): drawn from an explicit
``numpy.random.Generator`` seeded by the spec (never from ``hash``), and rounded to multiples of
2⁻¹⁰ so that the same numbers are exact in float64 and as sympy rationals (the exact search)."""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import SpecError

DENOM = 1024


def seed_int(table: dict, key: str, field: str, default: int = 0) -> int:
    v = table.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise SpecError(f"{field}.{key}", f"must be a non-negative integer, got {v!r}")
    return v


def dyadic_normal(rng: np.random.Generator, shape, std: float) -> np.ndarray:
    """N(0, std²) draws rounded to multiples of 1/DENOM, none of them 0 (a 0 would be no constant)."""
    v = np.round(rng.standard_normal(shape) * std * DENOM)
    v[v == 0] = 1.0
    return v / DENOM


def rational(x: float) -> sp.Rational:
    return sp.Rational(int(round(x * DENOM)), DENOM)
