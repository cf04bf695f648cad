"""Full-batch gradient descent with every charge and the exact law checked at each step: the GD
rule through the one rule runner (:func:`noether.run.optimizers.run_optimizer`), returned in the
shape GD's callers read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..optim import OPTIMIZERS
from .optimizers import run_optimizer


@dataclass
class GDRun:
    lr: float
    steps: int
    completed: int                 # steps done before a non-finite value (== steps if none)
    theta: np.ndarray | None       # (completed+1, D) if recorded
    charges: np.ndarray            # (completed+1, n_charges)
    losses: np.ndarray             # (completed,)
    step_resid: np.ndarray         # (completed,) max relative law residual per step
    charge_resid: np.ndarray       # (n_charges,) max relative law residual per charge

    @property
    def diverged(self) -> bool:
        return self.completed < self.steps


def run_gd(kernels, theta0, X, Y, lr: float, steps: int, record: bool = True,
           parallel: bool | None = None, check_law: bool = True) -> GDRun:
    """Full-batch GD recording every charge; with ``check_law`` (default) the exact GD law is checked on
    every charge at every step (``step_resid``, ``charge_resid``; zeros without).  The gradients
    are not recorded (GD's state is θ alone).

    ``parallel``: as for :func:`noether.run.optimizers.run_optimizer`."""
    r = run_optimizer(kernels, OPTIMIZERS["gd"](lr=lr), theta0, X, Y, steps, record=record, parallel=parallel,
                      check_law=check_law, record_grad=False)
    return GDRun(lr, steps, r.completed, r.theta, r.charges, r.losses, r.step_resid, r.charge_resid)
