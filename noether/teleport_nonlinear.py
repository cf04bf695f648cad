"""Teleportation with the data-dependent nonlinear action: ``noether teleport --action nonlinear``.

The action of Zhao, Ganev, Walters, Yu & Dehmamy (ICLR 2023, Thm 4.1) moves one hidden interface,
θ ↦ g·θ with V' = gV and U' σ(gVx) = U σ(Vx) on a batch (:func:`noether.actions.nonlinear_action`).
It keeps the loss *on that batch* (to the rounding of the solve) and changes it elsewhere, so the
objective (‖∇L‖ on the batch, as in Zhao et al.'s teleportation, NeurIPS 2022) is climbed over
g = exp(T), T ∈ gl(width).  Every candidate is the exact action of expm(T) applied to the starting
θ (never a composition of first-order moves); the search direction is the central-difference
gradient of the objective in the width² entries of T, and a step is accepted only if the objective
improves and the batch loss stays within the rounding bound of the action.  The rest of the data
is the held-out set whose loss is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import expm

from .actions import hidden_activations, interface, nonlinear_action
from .errors import SpecError

OBJECTIVES = ("grad_norm_max", "grad_norm_min")
EPS = np.finfo(float).eps
#: the batch loss after a move agrees with the loss before to the rounding of the least-squares solve
#: for U', about cond(σ(gVx))·ε relative; this factor covers the forward pass and the mean over rows
ROUNDING_FACTOR = 1e3
#: moves whose rounding bound exceeds this are rejected (σ(gVx) conditioned worse than ~4.5e3)
MAX_RTOL = 1e-9


@dataclass
class NonlinearTeleportResult:
    objective: str
    theta: np.ndarray
    g: np.ndarray                     # the group element, expm(T)
    layer: int
    batch_rows: np.ndarray            # rows of the data used as the batch
    batch_loss_before: float
    batch_loss_after: float
    loss_rtol: float                  # rounding bound of the batch loss for this g
    heldout_loss_before: float | None
    heldout_loss_after: float | None
    objective_before: float
    objective_after: float
    steps_taken: int
    notes: list = field(default_factory=list)

    @property
    def rel_batch_loss_change(self) -> float:
        return (self.batch_loss_after - self.batch_loss_before) / max(abs(self.batch_loss_before), np.finfo(float).tiny)

    @property
    def ok(self) -> bool:
        worse = (self.objective_after < self.objective_before if self.objective == "grad_norm_max"
                 else self.objective_after > self.objective_before)
        return bool(abs(self.rel_batch_loss_change) <= self.loss_rtol and not worse and np.isfinite(self.theta).all())

    def to_json(self) -> dict:
        return {"action": "nonlinear", "objective": self.objective, "layer": self.layer,
                "batch": int(len(self.batch_rows)), "batch_loss_before": self.batch_loss_before,
                "batch_loss_after": self.batch_loss_after, "rel_batch_loss_change": self.rel_batch_loss_change,
                "loss_rtol": self.loss_rtol, "heldout_loss_before": self.heldout_loss_before,
                "heldout_loss_after": self.heldout_loss_after, "objective_before": self.objective_before,
                "objective_after": self.objective_after, "steps_taken": self.steps_taken,
                "notes": self.notes, "ok": self.ok}


def width_of(model, layer: int) -> int:
    """Width of the hidden interface after linear layer ``layer`` (one-line error if there is none)."""
    return model.layers[interface(model, layer)[0]].out_dim()


def split_batch(n: int, batch: int | None, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded batch rows (default: as many as the width allows) and the held-out rest."""
    b = min(n, width) if batch is None else batch
    if not 0 < b <= n:
        raise SpecError("--batch", f"must be between 1 and the data size {n}, got {b}")
    if b > width:
        raise SpecError("--batch", f"the nonlinear action needs batch <= width: {b} samples, width {width}")
    perm = np.random.default_rng([seed, 17]).permutation(n)
    return np.sort(perm[:b]), np.sort(perm[b:])


def teleport_nonlinear(model, kernels, theta, X, Y, objective: str = "grad_norm_max", steps: int = 10,
                       seed: int = 0, layer: int = 1, batch: int | None = None,
                       step_size: float = 0.1) -> NonlinearTeleportResult:
    """Climb (or descend) ‖∇L_batch‖ over g = exp(T) with the nonlinear action on ``layer``."""
    if objective not in OBJECTIVES:
        raise SpecError("--objective", f"with --action nonlinear, accepted: {', '.join(OBJECTIVES)}; got {objective!r}")
    theta = np.asarray(theta, float)
    h = width_of(model, layer)
    rows, held = split_batch(X.shape[0], batch, h, seed)
    Xb, Yb = np.ascontiguousarray(X[rows]), np.ascontiguousarray(Y[rows])
    mod = kernels.module
    ws = mod.make_workspace(len(rows))
    grad, parts, lpart = np.empty(model.D), np.empty((1, model.D)), np.empty(1)
    sign = 1.0 if objective == "grad_norm_max" else -1.0

    def at(T):
        g = expm(T)
        th = nonlinear_action(model, theta, Xb, g, layer)
        L = float(mod.loss_grad(th, Xb, Yb, grad, ws, parts, lpart))
        return th, g, L, float(np.linalg.norm(grad))

    _, g0, L0, n0 = at(np.zeros((h, h)))        # also checks the sizes and σ's zeros up front
    T, best, taken, notes = np.zeros((h, h)), n0, 0, []
    th_best, g_best = theta, g0
    delta = np.cbrt(EPS)                         # central differences: truncation δ², rounding ε/δ
    for _ in range(steps):
        G = np.zeros((h, h))
        for i in range(h):
            for j in range(h):
                E = np.zeros((h, h))
                E[i, j] = delta
                G[i, j] = (at(T + E)[3] - at(T - E)[3]) / (2 * delta)
        if not np.any(G):
            notes.append("the objective is flat in every direction of gl(width) at this point")
            break
        alpha, moved = step_size, False
        while alpha > 1e-8 and not moved:
            cand = T + sign * alpha * G / np.abs(G).max()
            try:
                th, g, L, n = at(cand)
            except SpecError:                    # a singular σ(gVx) along the way: a shorter step
                alpha /= 2
                continue
            rtol = _rtol(model, th, Xb, layer)
            if sign * (n - best) > 0 and abs(L - L0) <= rtol * abs(L0) and rtol <= MAX_RTOL:
                T, best, th_best, g_best, moved = cand, n, th, g, True
            else:
                alpha /= 2
        if not moved:
            notes.append("no improving step within the rounding bound of the batch loss; stopped")
            break
        taken += 1

    def loss(th, A, B):
        return float(model.loss.value(model.forward(th, A), B))
    Xh, Yh = X[held], Y[held]
    return NonlinearTeleportResult(
        objective, th_best, g_best, layer, rows, loss(theta, Xb, Yb), loss(th_best, Xb, Yb),
        _rtol(model, th_best, Xb, layer),
        loss(theta, Xh, Yh) if len(held) else None, loss(th_best, Xh, Yh) if len(held) else None,
        n0, best, taken, notes)


def _rtol(model, theta_new, Xb, layer: int) -> float:
    """Relative rounding bound of the batch loss after the action: ROUNDING_FACTOR·cond(σ(gVx))·ε."""
    return float(max(ROUNDING_FACTOR * np.linalg.cond(hidden_activations(model, theta_new, Xb, layer)) * EPS, 1e-13))
