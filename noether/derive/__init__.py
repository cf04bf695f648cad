"""Stage three: the derivation (the sympy layer).  ``derive(model)`` is the entry point."""

from .continuous import bregman_gamma, fit_order, prediction_errors
from .derivation import Derivation, derive
from .generator import Generator
from .global_exact import global_exact
from .globalsearch import cross_check
from .laws import Law, derive_law, derive_state_law
from .span import Span

__all__ = ["Derivation", "Generator", "Law", "Span", "bregman_gamma", "cross_check", "derive", "derive_law",
           "derive_state_law", "fit_order", "global_exact", "prediction_errors"]
