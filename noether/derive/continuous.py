"""Continuous models of finite-rate dynamics (docs/theory.md §5-6): closed forms and their errors.

Kunin et al. (2021, "Neural Mechanics") model SGD with momentum β, dampening τ and coupled
weight decay λ by the modified flow

    m θ̈ + b θ̇ = −∇L − λθ,   m = η(1−τ)(1+β)/2,  b = 1 − β,  in time t = η(1−τ)k.

For a charge C = ½B(θ,θ) + L(θ) of a symmetry X = Aθ + c (X·∇L = 0), dotting the flow with X gives
one scalar equation per homogeneous part, derived here, not tabulated:

    translation (A = 0):        m q̈ + b q̇ + λ q  = 0
    scale / rescale (c = 0):    m q̈ + b q̇ + 2λ q = m B(θ̇, θ̇)       (kinetic source)
    mixed, λ = 0:               m C̈ + b Ċ        = m B(θ̇, θ̇)
    mixed, λ > 0:               no closed scalar equation.

Solutions use the damped-oscillator kernels of m r² + b r + κ = 0 (overdamped, critical,
underdamped): G(t), the impulse response, and H(t) = m Ġ + b G, the response to q(0) = 1.
Kunin's first-order closed forms (e.g. |θ|²(t) = e^{−2λt}|θ₀|² + η∫e^{−2λ(t−s)}|g|²ds) are the
m q̈ → 0 limit with the source kept.  θ̇ in the source and in q̇(0) is the run's velocity (central
differences of θ_k), since the heavy-ball velocity lags the terminal −(g + λθ)/(1 − β) by ~1/(1−β) steps.
Decoupled decay is mapped to λ(1−β)/(1−τ) (first order).  The Bregman Lagrangian with
γ = 2(1−β)/(η(1−τ)(1+β)) is the same flow; its rotation charge decays as e^{−γt}, i.e. by
e^{−2(1−β)/(1+β)} per step against the exact β of the discrete law.

These are approximations; :func:`prediction_errors` measures them against a run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FlowParams:
    m: float       # mass
    b: float       # friction
    lam: float     # effective weight decay
    dt: float      # time per step

    @classmethod
    def from_rule(cls, rule) -> FlowParams:
        eta, beta, tau, lam = rule.lr, rule.momentum, rule.dampening, rule.weight_decay
        if getattr(rule, "decoupled", False):
            lam = lam * (1 - beta) / max(1 - tau, 1e-300)
        return cls(eta * (1 - tau) * (1 + beta) / 2, 1 - beta, lam, eta * (1 - tau))


def regime(m: float, b: float, kappa: float) -> str:
    disc = b * b - 4 * m * kappa
    if m == 0:
        return "first-order"
    if abs(disc) <= 1e-12 * b * b:
        return "critical"
    return "overdamped" if disc > 0 else "underdamped"


def kernels(m: float, b: float, kappa: float, t):
    """(G(t), H(t)) of m q̈ + b q̇ + κ q: impulse response and free response to q(0)=1, q̇(0)=0."""
    t = np.asarray(t, float)
    reg = regime(m, b, kappa)
    if reg == "first-order":
        e = np.exp(-kappa * t / b)
        return e / b, e
    if reg == "critical":
        r = -b / (2 * m)
        G = t * np.exp(r * t) / m
        Gd = (1 + r * t) * np.exp(r * t) / m
    elif reg == "overdamped":
        s = np.sqrt(b * b - 4 * m * kappa)
        r1, r2 = (-b + s) / (2 * m), (-b - s) / (2 * m)
        G = (np.exp(r1 * t) - np.exp(r2 * t)) / (m * (r1 - r2))
        Gd = (r1 * np.exp(r1 * t) - r2 * np.exp(r2 * t)) / (m * (r1 - r2))
    else:
        a, w = -b / (2 * m), np.sqrt(4 * m * kappa - b * b) / (2 * m)
        G = np.exp(a * t) * np.sin(w * t) / (m * w)
        Gd = np.exp(a * t) * (a * np.sin(w * t) + w * np.cos(w * t)) / (m * w)
    return G, m * Gd + b * G


def solve(q0: float, qd0: float, src: np.ndarray, p: FlowParams, kappa: float, first_order=False):
    """q at t_k = k·dt for m q̈ + b q̇ + κ q = src(t), src linear between samples (exact otherwise)."""
    # scipy.linalg takes ~0.2 s to import: only the continuous predictions need it, not every
    # import of the derivation (count's up-front refusal of a model too large stays under 1 s)
    from scipy.linalg import expm
    m = 0.0 if first_order else p.m
    n, dt = len(src), p.dt
    out = np.empty(n)
    if m == 0:
        # b q̇ = −κ q + s: z = (q, s, ṡ)
        M = np.array([[-kappa / p.b, 1 / p.b, 0], [0, 0, 1], [0, 0, 0]], float)
        E = expm(M * dt)
        q = q0
        out[0] = q
        for k in range(n - 1):
            z = E @ np.array([q, src[k], (src[k + 1] - src[k]) / dt])
            q = z[0]
            out[k + 1] = q
        return out
    M = np.array([[0, 1, 0, 0], [-kappa / m, -p.b / m, 1 / m, 0], [0, 0, 0, 1], [0, 0, 0, 0]], float)
    E = expm(M * dt)
    q, qd = q0, qd0
    out[0] = q
    for k in range(n - 1):
        z = E @ np.array([q, qd, src[k], (src[k + 1] - src[k]) / dt])
        q, qd = z[0], z[1]
        out[k + 1] = q
    return out


def bregman_gamma(eta: float, beta: float, tau: float = 0.0) -> float:
    """γ of the Bregman flow equivalent to heavy ball: 2(1−β)/(η(1−τ)(1+β)) per unit t = η(1−τ)k."""
    return 2 * (1 - beta) / (eta * (1 - tau) * (1 + beta))


def rotation_decay(eta: float, beta: float, tau: float = 0.0) -> dict:
    """Per-step decay of the rotation charge: continuous e^{−γ dt} against the exact discrete β."""
    pred = float(np.exp(-bregman_gamma(eta, beta, tau) * eta * (1 - tau)))
    return {"predicted_per_step": pred, "exact_per_step": beta,
            "rate_error": abs(np.log(pred) - np.log(beta)) / abs(np.log(beta)) if 0 < beta < 1 else None}


def velocities(th: np.ndarray, n: int, dt: float) -> np.ndarray:
    """θ̇ at t_k = k·dt, k < n, from the iterates θ_0..θ_n: central differences inside, one-sided
    second-order differences at the ends."""
    v = np.empty((n, th.shape[1]))
    if len(th) < 3:
        v[:] = (th[1] - th[0]) / dt
        return v
    last = min(n, len(th) - 1)
    v[1:last] = (th[2:last + 1] - th[:last - 1]) / (2 * dt)
    v[0] = (-3 * th[0] + 4 * th[1] - th[2]) / (2 * dt)
    v[last:] = (3 * th[last] - 4 * th[last - 1] + th[last - 2]) / (2 * dt)
    return v


@dataclass
class Prediction:
    charge: str
    kind: str             # translation | scale | mixed
    regime: str
    error: float          # modified flow (second order): max |pred − run| / max scale
    error_first_order: float
    t: np.ndarray
    predicted: np.ndarray
    measured: np.ndarray


def prediction_errors(kernels_, rule, run, names, max_charges: int = 64) -> list[Prediction]:
    """Kunin et al.'s closed forms for every charge with a closed scalar equation, against ``run``
    (an :class:`noether.run.optimizers.OptRun` recorded with θ_k and g_k)."""
    mod = kernels_.module
    p = FlowParams.from_rule(rule)
    th, g = run.theta, run.grad
    n = len(g)
    nC = len(names)
    D = th.shape[1]
    quad0, lin0 = np.empty(nC), np.empty(nC)
    probe = np.random.default_rng([7, 7]).standard_normal(D)
    mod.charges_quad(probe, quad0, 0)
    mod.charges_lin(probe, lin0, 0)
    # θ̇_k from the run's own steps (central differences, O(dt²)), and B(θ̇, θ̇) = 2 quad(θ̇) per charge.
    # Not the terminal velocity −(g + λθ)/(1−β): the momentum buffer lags the gradient by ~1/(1−β)
    # steps, and that lag made the kinetic source wrong at O(1) (relative errors 1-7 at β = 0.9).
    vel = velocities(th, n, p.dt)
    src = np.empty((n, nC))
    absC = np.empty((n, nC))
    tmp = np.empty(nC)
    for k in range(n):
        mod.charges_quad(vel[k], tmp, 0)
        src[k] = 2 * p.m * tmp
        mod.charges_abs(th[k], absC[k], 0)
    C = run.charges[:n]
    t = np.arange(n) * p.dt
    thd0 = vel[0]
    out = []
    for q in range(min(nC, max_charges)):
        is_quad, is_lin = abs(quad0[q]) > 0, abs(lin0[q]) > 0
        if is_quad and is_lin and p.lam > 0:
            continue
        kind = "translation" if not is_quad else ("scale" if not is_lin else "mixed")
        kappa = p.lam if kind == "translation" else (2 * p.lam if kind == "scale" else 0.0)
        s = np.zeros(n) if kind == "translation" else src[:, q]
        # q̇(0) = ∇C(θ₀)·θ̇₀ by polarisation: C(θ₀ + h θ̇₀) − C(θ₀ − h θ̇₀) over 2h is exact for quadratics
        cp, cm = np.empty(nC), np.empty(nC)
        mod.charges(th[0] + thd0, cp, 0)
        mod.charges(th[0] - thd0, cm, 0)
        qdot0 = (cp[q] - cm[q]) / 2
        scale = max(absC[:, q].max(), 1e-300)
        pred2 = solve(C[0, q], qdot0, s, p, kappa)
        pred1 = solve(C[0, q], qdot0, s, p, kappa, first_order=True)
        out.append(Prediction(names[q], kind, regime(p.m, p.b, kappa),
                              float(np.abs(pred2 - C[:, q]).max() / scale),
                              float(np.abs(pred1 - C[:, q]).max() / scale), t, pred2, C[:, q]))
    return out


def fit_order(etas, errors) -> float:
    """Least-squares slope of log(error) against log(η): the error's order in η."""
    x, y = np.log(np.asarray(etas, float)), np.log(np.maximum(np.asarray(errors, float), 1e-300))
    return float(np.polyfit(x, y, 1)[0])
