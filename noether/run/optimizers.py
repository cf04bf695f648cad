"""Any optimizer rule (noether/optim) run through its generated kernel, with seeded minibatches.

The exact law of the rule, when it closes, is checked at every step inside the kernel; the run
records θ_k, the optimizer state, the gradients and the batch rows so that every law can also be
rechecked independently from the saved arrays (:mod:`noether.run.recheck`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..derive.laws import derive_law
from ..errors import SpecError


@dataclass
class OptRun:
    rule: object
    steps: int
    completed: int
    theta: np.ndarray | None       # (completed+1, D)
    state: np.ndarray | None       # (completed+1, n_state, D)
    grad: np.ndarray | None        # (completed, D): g_k, the (batch) gradient at θ_k
    batch_index: np.ndarray | None  # (steps, batch) rows used at step k (SGD)
    charges: np.ndarray            # (completed+1, n_charges)
    losses: np.ndarray
    step_resid: np.ndarray
    charge_resid: np.ndarray
    law_checked: bool

    @property
    def diverged(self) -> bool:
        return self.completed < self.steps


def batches(n_data: int, batch: int, steps: int, seed: int) -> np.ndarray:
    """Rows of each step's batch, without replacement within a step, from ``seed``."""
    if not 0 < batch <= n_data:
        raise SpecError("--batch", f"must be between 1 and the data size {n_data}, got {batch}")
    rng = np.random.default_rng([seed, 3])
    return np.stack([rng.choice(n_data, batch, replace=False) for _ in range(steps)]).astype(np.int64)


def run_optimizer(kernels, rule, theta0, X, Y, steps: int, batch: int | None = None, seed: int = 0,
                  record: bool = True) -> OptRun:
    mod = kernels.module
    nC = len(kernels.layout.names)
    D = theta0.shape[0]
    nS = max(len(rule.state), 1)
    if batch is None and rule.minibatch:
        batch = X.shape[0]
    use_batch = batch is not None
    bidx = batches(X.shape[0], batch, steps, seed) if use_batch else np.zeros((1, 1), np.int64)
    ws = mod.make_workspace(batch if use_batch else X.shape[0])
    check = derive_law(rule).closed
    thetas = np.full((steps + 1, D) if record else (1, D), np.nan)
    states = np.full((steps + 1, nS, D) if record else (1, nS, D), np.nan)
    grads = np.full((steps, D) if record else (1, D), np.nan)
    Cs = np.full((steps + 1, nC), np.nan)
    losses = np.full(steps, np.nan)
    step_resid = np.zeros(steps)
    charge_resid = np.zeros(nC)
    fn = getattr(mod, f"opt_{rule.variant}")
    done = int(fn(np.ascontiguousarray(theta0, dtype=float), np.zeros((nS, D)), np.ascontiguousarray(X),
                  np.ascontiguousarray(Y), np.asarray(rule.hp(), float), int(steps), bidx, use_batch, ws,
                  check, record, thetas, states, grads, Cs, losses, step_resid, charge_resid))
    n_state = len(rule.state)
    return OptRun(rule, steps, done, thetas[:done + 1] if record else None,
                  states[:done + 1, :n_state] if record else None, grads[:done] if record else None,
                  bidx if use_batch else None, Cs[:done + 1], losses[:done], step_resid[:done],
                  charge_resid, check)
