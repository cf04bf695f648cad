"""Stage three: the derivation (the sympy layer).  ``derive(model)`` is the entry point."""

from .derivation import Derivation, derive

__all__ = ["Derivation", "derive"]
