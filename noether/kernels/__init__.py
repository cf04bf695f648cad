"""Stage four: kernels.  Sympy results printed to numba modules (codegen), the hand-written primitives
they call, and the loops that run them (compiled once per install)."""

from .codegen import Kernels, build_kernels

__all__ = ["Kernels", "build_kernels"]
