"""Gradient flow and the second-order Bregman flow, integrated with scipy's DOP853.

Flows through ReLU kinks can enter a sliding mode where an adaptive integrator's step size
collapses; integration then stops at the reached time (reported), within an evaluation budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import DOP853

#: Integrator tolerances: the conservation checks (1e-8) sit two orders above rtol.
RTOL, ATOL = 1e-10, 1e-12
#: Right-hand-side evaluations allowed per flow.
BUDGET = 30_000


@dataclass
class FlowRun:
    t: np.ndarray
    y: np.ndarray            # (len(t), state)
    T: float                 # requested end time
    message: str

    @property
    def reached(self) -> float:
        return float(self.t[-1])

    @property
    def complete(self) -> bool:
        return self.reached >= self.T * (1 - 1e-12)


def integrate(rhs, y0, T: float, n_out: int = 60) -> FlowRun:
    solver = DOP853(rhs, 0.0, y0, T, rtol=RTOL, atol=ATOL)
    ts, ys = [0.0], [np.array(y0, dtype=float)]
    every = T / n_out
    msg = "reached the end time"
    while solver.status == "running":
        if solver.nfev > BUDGET:
            msg = f"stopped after {BUDGET} evaluations (step size collapsed, e.g. at a kink)"
            break
        err = solver.step()
        if solver.status == "failed":
            msg = f"stopped: {err}"
            break
        if solver.t - ts[-1] >= every or solver.status == "finished":
            ts.append(solver.t)
            ys.append(solver.y.copy())
    if ts[-1] != solver.t and solver.status != "failed":
        ts.append(solver.t)
        ys.append(solver.y.copy())
    return FlowRun(np.array(ts), np.array(ys), T, msg)


def gradient_flow(kernels, theta0, X, Y, T: float) -> FlowRun:
    """θ̇ = −∇L(θ) on [0, T]."""
    mod = kernels.module
    ws = mod.make_workspace(X.shape[0])
    grad = np.empty_like(theta0)

    def rhs(t, th):
        out = np.empty_like(th)
        mod.gf_rhs(th, X, Y, 1.0, ws, grad, out)
        return out

    return integrate(rhs, theta0, T)


def bregman_flow(kernels, theta0, vel0, X, Y, lr: float, gamma: float, T: float) -> FlowRun:
    """θ̈ = −γθ̇ − γη∇V, with the accumulated Noether sources q_k appended to the state."""
    mod, g = kernels.module, kernels.generators
    ws = mod.make_workspace(X.shape[0])
    D = theta0.shape[0]
    G = len(g["gptr"]) - 1
    grad = np.empty(D)
    y0 = np.concatenate([theta0, vel0, np.zeros(G)])

    def rhs(t, y):
        out = np.empty_like(y)
        mod.bregman_rhs(t, y, X, Y, lr, gamma, ws, grad, g["gptr"], g["rows"], g["cols"], g["vals"], out)
        return out

    return integrate(rhs, y0, T)
