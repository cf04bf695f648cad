"""Stage four: kernels.  Sympy results printed to a numba module (codegen) + hand-written loops."""
