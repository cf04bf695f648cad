"""Side-by-side benchmark of noether's kernels against numpy, PyTorch eager and JAX (issue 7).

``noether bench [--json] [--quick]``; in Python: ``noether.bench.report.run(quick=True)``.
"""

from .problems import FULL, QUICK, Problem
from .report import BenchResult, plot, run, table

__all__ = ["Problem", "FULL", "QUICK", "BenchResult", "run", "table", "plot"]
