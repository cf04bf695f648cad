"""Hypothesis strategies and assertions for property-testing symmetry claims.

Strategies (composable like ``hypothesis.extra.numpy``): :func:`models`, :func:`model_specs`,
:func:`parameters`, :func:`batches`, :func:`algebra_elements`, :func:`group_elements`,
:func:`permutations`, :func:`sign_flips`, :func:`discrete_symmetries`, :func:`symmetries`.
Assertions: :func:`assert_invariant`, :func:`assert_equivariant`, :func:`assert_conserved`,
:func:`assert_law`; a false claim raises :class:`ClaimFailure` with the counterexample.
They accept a noether ``Model`` or a plain ``loss(params: dict, X, Y)``.
"""

from ..errors import SpecError
from .assertions import (ATOL, RTOL_EXACT, RTOL_FD, Check, ClaimFailure, assert_conserved,
                         assert_equivariant, assert_invariant, assert_law, derivation_of)
from .search import find_counterexample
from .strategies import (algebra_elements, batches, discrete_symmetries, group_elements, model_specs,
                         models, parameters, permutations, sign_flips, symmetries)
from .transforms import (AlgebraElement, BlockMap, Compose, Flip, GroupElement, Permutation, Transform,
                         block_map)

__all__ = [
    "ATOL", "RTOL_EXACT", "RTOL_FD", "AlgebraElement", "BlockMap", "Check", "ClaimFailure", "Compose",
    "Flip", "GroupElement", "Permutation", "SpecError", "Transform", "algebra_elements", "assert_conserved",
    "assert_equivariant", "assert_invariant", "assert_law", "batches", "block_map", "derivation_of",
    "discrete_symmetries", "find_counterexample", "group_elements", "model_specs", "models", "parameters",
    "permutations", "sign_flips", "symmetries",
]
