"""Stage six: the report of laws checked against runs, as a table or JSON.

The data (:class:`LawCheck`, :class:`Report`) lives in :mod:`noether.run.checks` so that the
composers below this layer can fill it; this module is the rendering layer's entry point.
"""

from __future__ import annotations

from .run.checks import LawCheck, Report

__all__ = ["LawCheck", "Report"]
