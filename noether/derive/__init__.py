"""Stage three: the derivation (the sympy layer).  ``derive(model)`` is the entry point.

Layout: the shared core (``linalg``, ``generator``, ``span``, ``rank``, ``algebra``, ``charges``,
``method``), one subpackage per :class:`Method` (``per_interface``, ``global_search``,
``structured``), then what every derivation adds on top (``derivation``, ``laws``, ``lagrangian``,
``continuous``, ``discrete``)."""

from .continuous import bregman_gamma, fit_order, prediction_errors
from .derivation import METHODS, Derivation, choose_method, derive
from .generator import Generator
from .global_search.exact import global_exact
from .global_search.numeric import cross_check
from .laws import Law, derive_law, derive_state_law
from .method import Formed, Method
from .span import Span

__all__ = ["METHODS", "Derivation", "Formed", "Generator", "Law", "Method", "Span", "bregman_gamma",
           "choose_method", "cross_check", "derive", "derive_law", "derive_state_law", "fit_order",
           "global_exact", "prediction_errors"]
