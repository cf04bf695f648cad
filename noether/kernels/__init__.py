"""Stage four: kernels.  Sympy results printed to a numba module (codegen) + hand-written loops."""

from .codegen import Kernels, build_kernels

__all__ = ["Kernels", "build_kernels"]
