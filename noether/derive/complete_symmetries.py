"""Linear+affine generators X(θ) = Aθ + c of a model with A restricted to the symmetric or the
antisymmetric matrices, found as the numerical null space of the symmetry condition (1) of
THEORY.md, ∇_θ f(θ, x)·(Aθ + c) = 0, sampled at random (θ, x).

* symmetric A  <->  conserved gradient-flow charges C = ½θᵀAθ + cᵀθ (THEORY §3).  This is
  only a fallback for the count's ``derived`` field when :func:`noether.derive.derive` is absent.
* antisymmetric A  <->  Noether charges Q = e^{γt}(Aθ + c)ᵀθ̇ of the heavy-ball / Bregman flow,
  conserved exactly because the kinetic term is invariant (THEORY §6; Marcotte, Gribonval,
  Peyré, ICML 2024, "Keep the momentum").

Dense in D² unknowns, so limited to small D (``MAX_UNKNOWNS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .complete_jets import Net

MAX_UNKNOWNS = 2600


@dataclass
class Generators:
    kind: str
    A: np.ndarray           # (g, D, D)
    c: np.ndarray           # (g, D)
    gap: float              # smallest kept / largest dropped singular value of the condition


def _pairs(D: int, kind: str):
    if kind == "symmetric":
        j, l = np.triu_indices(D)
    else:
        j, l = np.triu_indices(D, 1)
    return j, l


def n_unknowns(D: int, kind: str) -> int:
    return (D * (D + 1) // 2 if kind == "symmetric" else D * (D - 1) // 2) + D


def linear_generators(model, kind: str, rng: np.random.Generator) -> Generators | None:
    """All X = Aθ + c (A ``kind``) with ∇f·X = 0 on random samples; None when D is too large."""
    net = Net(model)
    D = net.D
    U = n_unknowns(D, kind)
    if U > MAX_UNKNOWNS:
        return None
    j, l = _pairs(D, kind)
    rows = []
    need = 3 * U // 2 + 40       # informative rows; zero rows (dead units) are not counted
    while sum(int(np.count_nonzero(np.linalg.norm(r, axis=1))) for r in rows) < need:
        theta = model.init(rng)
        x = rng.standard_normal((1, net.d_in))
        J = net.jacobian(theta, x)                       # (k, D)
        if kind == "symmetric":
            Acoef = J[:, j] * theta[l] + np.where(j != l, J[:, l] * theta[j], 0.0)
        else:
            Acoef = J[:, j] * theta[l] - J[:, l] * theta[j]
        rows.append(np.hstack([Acoef, J]))
    M = np.vstack(rows)
    norms = np.linalg.norm(M, axis=1)
    M = M[norms > 0] / norms[norms > 0, None]
    _, s, Vt = np.linalg.svd(M, full_matrices=True)
    s_full = np.zeros(U)
    s_full[:len(s)] = s
    rel = s_full / s_full[0]
    # float64 rows of unit norm: a true null vector leaves ~1e-15·sqrt(U) relative; keep 1e-9.
    null = rel < 1e-9
    kept = rel[~null]
    dropped = rel[null]
    gap = float(kept.min() / max(dropped.max() if dropped.size else 0.0, 1e-16)) if kept.size else float("inf")
    basis = Vt[null]
    g = basis.shape[0]
    A = np.zeros((g, D, D))
    npair = len(j)
    for i in range(g):
        a = basis[i, :npair]
        A[i, j, l] = a
        if kind == "symmetric":
            A[i, l, j] = a
        else:
            A[i, l, j] = -a
    c = basis[:, npair:]
    return Generators(kind, A, c, gap)


def n_independent_gf_charges(gens: Generators, rng: np.random.Generator, D: int) -> int:
    """Functional rank of C_i = ½θᵀA_iθ + c_iᵀθ: rank of ∇C_i = A_iθ + c_i at random θ."""
    best = 0
    for _ in range(3):
        theta = rng.standard_normal(D)
        G = np.einsum("gij,j->gi", gens.A, theta) + gens.c
        best = max(best, _rank(G))
    return best


def n_independent_noether_charges(gens: Generators, rng: np.random.Generator, D: int,
                                  gamma: float = 1.0) -> int:
    """Functional rank of Q_i = e^{γt}(A_iθ + c_i)·v in (t, θ, v), at random (θ, v), t = 0."""
    best = 0
    for _ in range(3):
        theta, v = rng.standard_normal(D), rng.standard_normal(D)
        X = np.einsum("gij,j->gi", gens.A, theta) + gens.c
        Q = X @ v
        G = np.hstack([gamma * Q[:, None], np.einsum("gij,i->gj", gens.A, v), X])
        best = max(best, _rank(G))
    return best


def _rank(G: np.ndarray) -> int:
    if G.size == 0:
        return 0
    n = np.linalg.norm(G, axis=1)
    G = G[n > 0] / n[n > 0, None]
    if G.shape[0] == 0:
        return 0
    s = np.linalg.svd(G, compute_uv=False)
    return int(np.sum(s / s[0] > 1e-8))
