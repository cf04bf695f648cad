"""Group actions on parameters."""
from .nonlinear import nonlinear_action, nonlinear_teleport  # noqa: F401  (issue 13: Zhao et al. Thm 4.1)
