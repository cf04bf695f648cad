"""Gradient flow and the second-order Bregman flow, integrated by DOP853 (Dormand–Prince 8(5,3)).

The integrator (``integrate_flow`` in :mod:`noether.kernels.loops`, compiled once per install) runs the
whole adaptive loop and every right-hand side run in one numba call, with scipy.integrate.DOP853's
coefficients, step-size control and initial step (scipy's Python loop cost ~17 µs per evaluation and
its import ~0.3 s: most of a cached ``noether verify``; measured by ``noether bench``).

Flows through ReLU kinks can enter a sliding mode where an adaptive integrator's step size
collapses; integration then stops at the reached time (reported), within an evaluation budget.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..kernels.loops import LOSS_GRAD, bind, integrate_flow

#: Integrator tolerances: the conservation checks (1e-8) sit two orders above rtol.
RTOL, ATOL = 1e-10, 1e-12
#: Right-hand-side evaluations allowed per flow.
BUDGET = 30_000
#: Records of the trajectory per flow (plus the start and the end).
N_OUT = 60


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


@lru_cache(maxsize=1)
def dop853_tableau():
    """(A, B, C, E3, E5) of DOP853, read from scipy's coefficient file without importing
    scipy.integrate (whose package import costs ~0.3 s)."""
    spec = importlib.util.find_spec("scipy")
    path = os.path.join(os.path.dirname(spec.origin), "integrate", "_ivp", "dop853_coefficients.py")
    if os.path.exists(path):
        cspec = importlib.util.spec_from_file_location("_noether_dop853_coefficients", path)
        mod = importlib.util.module_from_spec(cspec)
        cspec.loader.exec_module(mod)
    else:       # a scipy that moved its private file: the regular (slower) import
        from scipy.integrate._ivp import dop853_coefficients as mod
    S = mod.N_STAGES
    return (np.ascontiguousarray(mod.A[:S, :S]), np.ascontiguousarray(mod.B), np.ascontiguousarray(mod.C[:S]),
            np.ascontiguousarray(mod.E3), np.ascontiguousarray(mod.E5))


_MESSAGES = {0: "reached the end time",
             1: f"stopped after {BUDGET} evaluations (step size collapsed, e.g. at a kink)",
             2: "stopped: required step size is less than spacing between numbers"}


def _run(kernels, kind, y0, D, T, X, Y, lr, gamma, g) -> FlowRun:
    """The compiled DOP853 loop on the flow ``kind`` (0 gradient, 1 Bregman) of a model of D parameters."""
    mod = kernels.module
    y0 = np.ascontiguousarray(y0, dtype=float)
    X, Y = np.require(X, np.float64, ["C", "W"]), np.require(Y, np.float64, ["C", "W"])
    ts = np.empty(N_OUT + 4)
    ys = np.empty((N_OUT + 4, y0.shape[0]))
    rec, status, _ = integrate_flow(bind(mod.loss_grad, LOSS_GRAD), kind, y0, float(T), N_OUT, BUDGET, RTOL,
                                    ATOL, *dop853_tableau(), X, Y, float(lr), float(gamma),
                                    mod.make_workspace(X.shape[0]), np.empty(D), np.empty((1, D)),
                                    np.empty(1), g["gptr"], g["rows"], g["cols"], g["vals"], ts, ys)
    return FlowRun(ts[:rec].copy(), ys[:rec].copy(), T, _MESSAGES[int(status)])


_NO_GENS = {"gptr": np.zeros(1, np.int64), "rows": np.zeros(0, np.int64), "cols": np.zeros(0, np.int64),
            "vals": np.zeros(0)}


def gradient_flow(kernels, theta0, X, Y, T: float) -> FlowRun:
    """θ̇ = −∇L(θ) on [0, T]."""
    return _run(kernels, 0, theta0, theta0.shape[0], T, X, Y, 1.0, 0.0, _NO_GENS)


def bregman_flow(kernels, theta0, vel0, X, Y, lr: float, gamma: float, T: float) -> FlowRun:
    """θ̈ = −γθ̇ − γη∇V, with the accumulated Noether sources q_k appended to the state."""
    g = kernels.generators
    y0 = np.concatenate([theta0, vel0, np.zeros(len(g["gptr"]) - 1)])
    return _run(kernels, 1, y0, theta0.shape[0], T, X, Y, lr, gamma, g)
