"""Stage five: runs (GD, any optimizer rule, gradient flow, Bregman flow), driven by the generated
kernels.  Nothing here derives: laws arrive with the kernels."""

from .checks import LawCheck, Report
from .data import initial_parameters, load_data, random_data
from .gd import run_gd
from .optimizers import OptRun, run_optimizer
from .recheck import eval_law

__all__ = ["LawCheck", "OptRun", "Report", "eval_law", "initial_parameters", "load_data", "random_data",
           "run_gd", "run_optimizer"]
