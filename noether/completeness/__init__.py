"""Completeness counting (docs/theory.md §7): how many conserved functions exist at all.

The count D − dim Lie(V)(θ) of Marcotte, Gribonval & Peyré (NeurIPS 2023; ICML 2024 for
momentum), in floating point at generic points (:func:`count_laws`) and exactly over the
rationals (:class:`ExactNet`, :func:`exact_lie_rank`), plus the exact search for the polynomial
laws themselves (:func:`polynomial_search`).  This package is the public entry point of the
counting layer, which sits above the derivation and below the kernels.
"""

from .count import count_laws, pinned_units
from .exact import ExactNet, exact_lie_rank, exact_point, to_float
from .polysearch import search as polynomial_search

__all__ = ["ExactNet", "count_laws", "exact_lie_rank", "exact_point", "pinned_units", "polynomial_search",
           "to_float"]
