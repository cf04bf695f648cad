"""Validation of spec fields: each failure is a one-line SpecError naming the field."""

from __future__ import annotations

import math

from ..errors import SpecError


def check_keys(table: dict, allowed: set[str], field: str) -> None:
    for key in table:
        if key not in allowed:
            raise SpecError(f"{field}.{key}", "unknown key; accepted keys: " + ", ".join(sorted(allowed)))


def positive_int(table: dict, key: str, field: str, default: int | None = None) -> int:
    if key not in table:
        if default is None:
            raise SpecError(f"{field}.{key}", "missing; a positive integer is required")
        return default
    v = table[key]
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise SpecError(f"{field}.{key}", f"must be a positive integer, got {v!r}")
    return v


def boolean(table: dict, key: str, field: str, default: bool) -> bool:
    v = table.get(key, default)
    if not isinstance(v, bool):
        raise SpecError(f"{field}.{key}", f"must be true or false, got {v!r}")
    return v


def finite_float(value, field: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """A finite float within [low, high] (open ends if asked)."""
    if isinstance(value, bool):
        raise SpecError(field, f"must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SpecError(field, f"must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise SpecError(field, f"must be finite, got {value!r}")
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    rng = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    if low is not None and (v < low or (low_open and v == low)):
        raise SpecError(field, f"must be in {rng}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise SpecError(field, f"must be in {rng}, got {value!r}")
    return v
