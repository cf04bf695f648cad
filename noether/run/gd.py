"""Full-batch gradient descent with every charge and the exact law checked at each step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def run_gd(kernels, theta0, X, Y, lr: float, steps: int, record: bool = True) -> GDRun:
    mod = kernels.module
    nC = len(kernels.layout.names)
    D = theta0.shape[0]
    ws = mod.make_workspace(X.shape[0])
    thetas = np.full((steps + 1, D) if record else (1, D), np.nan)
    Cs = np.full((steps + 1, nC), np.nan)
    losses = np.full(steps, np.nan)
    step_resid = np.zeros(steps)
    charge_resid = np.zeros(nC)
    done = int(mod.run_gd(np.ascontiguousarray(theta0, dtype=float), X, Y, float(lr), int(steps), ws, record,
                          thetas, Cs, losses, step_resid, charge_resid))
    if done < steps and record:
        # keep the partial trajectory, including the first non-finite parameters if they were formed
        pass
    return GDRun(lr, steps, done, thetas[:done + 1] if record else None, Cs[:done + 1], losses[:done],
                 step_resid[:done], charge_resid)
