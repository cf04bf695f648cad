"""Teleportation along a model's symmetry orbit: the composer behind ``noether teleport``.

Objectives (Zhao, Dehmamy, Walters & Yu, NeurIPS 2022 and ICLR 2024, for ``grad_norm_max``):

* ``grad_norm_max`` / ``grad_norm_min``: ‖∇L‖.  For a linear action θ' = Mθ + b that leaves L
  invariant, ∇L(θ') = M^{-T}∇L(θ) exactly, so the objective along the orbit and its gradient in the
  Lie-algebra coordinates, ∂_k ½‖∇L‖² = −gᵀA_k g (from H X_k = −A_kᵀ g, the derivative of
  X_k·g = 0), need one kernel gradient per teleport, not Hessians.
* ``balance``: ½‖θ‖² over the abelian subgroup of diagonal generators (scalings).  It is convex in
  the coordinates and its gradient is 2·C_k (each scaling charge), so its minimum is where every
  scaling charge is zero; each coordinate step is the closed-form minimiser along one generator.
* ``sharpness_min``: the largest Hessian eigenvalue λ, by Lanczos (``scipy.sparse.linalg.eigsh``)
  on Hessian-vector products; with H(θ') = M^{-T}H(θ)M^{-1}, ∂_k λ = −2λ vᵀA_k v for the top
  eigenvector v.

Every move is a true group element (:mod:`noether.actions`); a step is accepted only if the
objective improves, so ``grad_norm_max`` never lowers and the others never raise their objective.
The loss is measured in float64 before and after.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .actions import GroupAction, GroupElement
from .errors import SpecError
from .derive import derive
from .kernels.codegen import build_kernels
from .actions import group_action
from .run.data import initial_parameters, load_data, random_data
from .run.datasets import load_dataset
from .run.params import load_params
from .run.chunks import batch_pass
from scipy.sparse.linalg import LinearOperator, eigsh

OBJECTIVES = ("grad_norm_max", "grad_norm_min", "balance", "sharpness_min")
ACTIONS = ("linear",)
#: |ΔL|/L allowed after a move: the loss is a float64 mean of forward passes whose relative rounding
#: is a few hundred ulps at most for the depths run here; measured values are ~1e-16 to 1e-14
LOSS_RTOL = 1e-11
EPS = np.finfo(float).eps


@dataclass
class TeleportResult:
    objective: str
    theta: np.ndarray
    element: GroupElement
    loss_before: float
    loss_after: float
    objective_before: float
    objective_after: float
    charges_before: dict
    charges_after: dict
    steps_taken: int
    notes: list = field(default_factory=list)

    @property
    def rel_loss_change(self) -> float:
        return (self.loss_after - self.loss_before) / max(abs(self.loss_before), np.finfo(float).tiny)

    @property
    def ok(self) -> bool:
        worse = (self.objective_after < self.objective_before if self.objective == "grad_norm_max"
                 else self.objective_after > self.objective_before * (1 + 1e-12))
        return bool(abs(self.rel_loss_change) <= LOSS_RTOL and not worse and np.isfinite(self.theta).all())

    def to_json(self) -> dict:
        return {"objective": self.objective, "loss_before": self.loss_before, "loss_after": self.loss_after,
                "rel_loss_change": self.rel_loss_change, "loss_rtol": LOSS_RTOL,
                "objective_before": self.objective_before, "objective_after": self.objective_after,
                "charges_before": self.charges_before, "charges_after": self.charges_after,
                "steps_taken": self.steps_taken, "notes": self.notes, "ok": self.ok}


class Evaluator:
    """Loss, gradient, charges and Hessian-vector products of one model on one data set, from kernels."""

    def __init__(self, kernels, X, Y):
        self.k, self.mod, self.X, self.Y = kernels, kernels.module, X, Y
        self.bp = None
        self.names = list(kernels.layout.names)

    def loss_grad(self, theta):
        g = np.empty(theta.shape[0])
        th = np.ascontiguousarray(theta, dtype=float)
        if self.bp is None:   # the runs' pass: row chunks on the cores, the BLAS policy of its size
            self.bp = batch_pass(self.k, self.X.shape[0], th.shape[0])
        with self.bp.threads() as bp:
            L = bp.loss_grad(self.mod)(th, self.X, self.Y, g, bp.ws, bp.gparts, np.empty(len(bp.gparts)))
        return float(L), g

    def charges(self, theta) -> dict:
        out = np.empty(len(self.names))
        if self.names:
            self.mod.charges(np.ascontiguousarray(theta, dtype=float), out, 0)
        return {n: float(v) for n, v in zip(self.names, out)}

    def hvp(self, theta, v):
        """H v by a central difference of kernel gradients, step h = ε^{1/3}·max(1, ‖θ‖∞)/‖v‖:
        truncation O(h²)|∇³L| and rounding O(ε|∇L|/h) balance at a relative error ~ε^{2/3} ≈ 4e-11."""
        nv = np.linalg.norm(v)
        if nv == 0:
            return np.zeros_like(v)
        h = np.cbrt(EPS) * max(1.0, float(np.abs(theta).max())) / nv
        _, gp = self.loss_grad(theta + h * v)
        _, gm = self.loss_grad(theta - h * v)
        return (gp - gm) / (2 * h)

    def top_eig(self, theta, seed: int = 0):
        """(λ_max, v) of the Hessian by Lanczos on :meth:`hvp` (dense eigh for D ≤ 64)."""
        D = theta.shape[0]
        if D <= 64:
            H = np.array([self.hvp(theta, e) for e in np.eye(D)])
            w, V = np.linalg.eigh(0.5 * (H + H.T))
            return float(w[-1]), V[:, -1]
        op = LinearOperator((D, D), matvec=lambda v: self.hvp(theta, np.ravel(v)), dtype=float)
        v0 = np.random.default_rng(seed).standard_normal(D)
        w, V = eigsh(op, k=1, which="LA", v0=v0, tol=1e-9)
        return float(w[0]), V[:, 0]


def balance_pass(action: GroupAction, theta, sweeps: int = 50, rtol: float = 1e-12):
    """Minimise ½‖θ‖² over the scalings by exact coordinate steps; returns (log-scales s, sweeps).

    Along one diagonal generator with coefficients a_i the function ½Σθ_i²e^{2a_iτ} is convex; with
    a single |a| (every derived per-unit scaling so far) its minimiser is the closed form
    τ = log(N/P)/(4|a|), P, N the squared norms on the a > 0 and a < 0 entries; otherwise a few
    Newton steps find it.  Generators with disjoint supports do not interact, so each colour class
    of :attr:`GroupAction.diag_sweep` is stepped at once (the same result as one by one)."""
    sq = np.asarray(theta, dtype=float) ** 2
    s = np.zeros_like(sq)
    tiny = np.finfo(float).tiny
    for sweep in range(1, sweeps + 1):
        worst = 0.0
        for rows, A, Apos, Aneg, Aabs, mag in action.diag_sweep:
            w = sq * np.exp(2 * s)
            worst = max(worst, float(np.max(np.abs(A @ w) / np.maximum(Aabs @ w, tiny))))
            P, N = Apos @ w, Aneg @ w
            ok = (P > 0) & (N > 0)        # else no minimum along it (a zero in- or out-norm)
            tau = np.zeros(len(rows))
            closed = ok & ~np.isnan(mag)
            tau[closed] = np.log(N[closed] / P[closed]) / (4 * mag[closed])
            for i in np.flatnonzero(ok & np.isnan(mag)):
                lo, hi = A.indptr[i], A.indptr[i + 1]
                idx, a = A.indices[lo:hi], A.data[lo:hi]
                t, wi = 0.0, w[idx]
                for _ in range(30):
                    e = wi * np.exp(2 * a * t)
                    d1, d2 = float(a @ e), float(2 * (a * a) @ e)
                    t -= d1 / d2
                    if abs(d1) <= 1e-15 * float(np.abs(a) @ e):
                        break
                tau[i] = t
            s += A.T @ tau
        if worst <= rtol:
            return s, sweep
    return s, sweeps


def teleport(kernels, action: GroupAction, theta, X, Y, objective: str = "grad_norm_max",
             steps: int = 10, seed: int = 0, action_kind: str = "linear",
             step_size: float = 0.1) -> TeleportResult:
    """Move θ along the orbit of ``action`` to improve ``objective`` (see the module docstring).

    ``step_size``: the largest move per ascent step, as the norm of the Lie-algebra coordinates t
    (``grad_norm_max`` is unbounded on non-compact orbits: steps × step_size bounds the move)."""
    if objective not in OBJECTIVES:
        raise SpecError("--objective", f"accepted: {', '.join(OBJECTIVES)}; got {objective!r}")
    if action_kind not in ACTIONS:
        raise SpecError("--action", f"accepted: {', '.join(ACTIONS)}; got {action_kind!r}")
    theta = np.asarray(theta, dtype=float)
    ev = Evaluator(kernels, X, Y)
    L0, g0 = ev.loss_grad(theta)
    C0 = ev.charges(theta)
    obj = _objective_fn(objective, ev)
    f0 = obj(theta, g0)
    elem = action.identity()
    notes, taken, th = [], 0, theta
    if action.dim == 0:
        notes.append("trivial algebra: no symmetry generators, parameters unchanged")
    elif objective == "balance":
        if not action.diagonal:
            notes.append("no scaling (diagonal) generators: nothing to balance, parameters unchanged")
        else:
            s, taken = balance_pass(action, theta, sweeps=steps)
            cand = action.scaling(s)
            if 0.5 * float(np.sum(cand.apply(theta) ** 2)) <= f0:
                elem = cand
    else:
        elem, taken = _ascend(action, ev, theta, g0, objective, steps, seed, step_size)
    th = elem.apply(theta)
    L1, g1 = ev.loss_grad(th)
    return TeleportResult(objective, th, elem, L0, L1, f0, obj(th, g1), C0, ev.charges(th), taken, notes)


def _objective_fn(objective, ev):
    if objective in ("grad_norm_max", "grad_norm_min"):
        return lambda th, g: float(np.linalg.norm(g))
    if objective == "balance":
        return lambda th, g: 0.5 * float(np.dot(th, th))
    return lambda th, g: ev.top_eig(th)[0]


def _ascend(action, ev, theta, g, objective, steps, seed, step_size):
    """Backtracking steps in the Lie-algebra coordinates; a step is kept only if it improves."""
    sign = 1.0 if objective == "grad_norm_max" else -1.0
    elem, th, alpha, taken = action.identity(), theta, step_size, 0
    lam, v = ev.top_eig(theta, seed) if objective == "sharpness_min" else (None, None)
    cur = float(np.linalg.norm(g)) if lam is None else lam
    for _ in range(steps):
        d = -action.quad(g, g) if lam is None else -2 * lam * action.quad(v, v)
        nd = np.linalg.norm(d)
        if not np.isfinite(nd) or nd == 0:
            break
        d = sign * d / nd
        for _ in range(40):
            e = action.element(alpha * d)
            if lam is None:
                g_new = e.covector(g)                      # exact: ∇L(Mθ+b) = M^{-T}∇L(θ)
                val = float(np.linalg.norm(g_new))
            else:
                th_new = e.apply(th)
                val, v_new = ev.top_eig(th_new, seed)
            if sign * (val - cur) > 0:
                break
            alpha *= 0.5
        else:
            break
        elem, th, cur, taken = elem.then(e), e.apply(th), val, taken + 1
        if lam is None:
            g = g_new
        else:
            lam, v = val, v_new
        alpha = min(2 * alpha, step_size)
    return elem, taken


@dataclass
class Setup:
    model: object
    deriv: object
    kernels: object
    action: GroupAction
    X: np.ndarray
    Y: np.ndarray
    theta: np.ndarray


def prepare(model, data: str | None = None, dataset: str | None = None, params: str | None = None,
            seed: int = 0, samples: int = 32, cache: str | None = None) -> Setup:
    """Derivation, kernels, group action, data (``--data`` file, ``--dataset`` name or seeded random)
    and parameters (``--params`` file or the seeded initialisation) for teleport and train."""
    if data and dataset:
        raise SpecError("--data", "give --data or --dataset, not both")
    X, Y = (load_data(model, data) if data else load_dataset(model, dataset) if dataset
            else random_data(model, samples, seed))
    theta = load_params(model, params) if params else initial_parameters(model, seed)
    deriv = derive(model)
    kern = build_kernels(deriv, cache)
    return Setup(model, deriv, kern, group_action(deriv) if deriv.dim else GroupAction([], model.D),
                 X, Y, theta)
