"""Global search: every linear+affine generator X(θ) = Aθ + c of a small model (docs/theory.md §2).

An independent route to the algebra, used to cross-check the structured per-interface method.
The condition ∇L·X = 0 for every θ, x, y is, for the MSE loss with y free, J_f(θ; x) X(θ) = 0:
linear in the D² + D unknowns (A, c).  It is sampled at random (θ, x) and its null space read
from an SVD, with the singular-value gap reported; ``orbit_rank`` is the rank of the null
basis evaluated at a generic θ.  Numeric (float64) and therefore only for small D.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ..linalg import float_null, float_rank
from .exact import GlobalSearchError, batch_size


@dataclass
class GlobalResult:
    dim: int
    orbit_rank: int
    gap: tuple[float, float]       # (largest null sv, smallest nonzero sv), relative
    basis: np.ndarray              # (dim, D*D + D): rows are (vec(A), c)
    gradient_dim: int              # dimension of the subspace with symmetric A


def jacobian(model, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rows ∂f_o/∂θ at one sample, from the reference backprop (MSE with f − y = e_o)."""
    F = model.forward(theta, x[None, :])
    rows = []
    for o in range(model.output):
        e = np.zeros_like(F)
        e[0, o] = 1.0
        rows.append(model.loss_and_grad(theta, x[None, :], F - e)[1])
    return np.array(rows)


def global_search(model, samples: int | None = None, seed: int = 0, rtol: float = 1e-9) -> GlobalResult:
    D = model.D
    rng = np.random.default_rng(seed)
    n_unknown = D * D + D
    samples = samples or (n_unknown // max(model.output, 1) + 40)
    blocks = []
    for _ in range(samples):
        theta = rng.standard_normal(D)
        x = rng.standard_normal(model.input)
        J = jacobian(model, theta, x)               # (out, D)
        blocks.append(np.hstack([np.einsum("or,s->ors", J, theta).reshape(len(J), -1), J]))
    M = np.vstack(blocks)
    M /= np.linalg.norm(M, axis=1, keepdims=True) + 1e-300
    # float64: an exact null direction leaves sv ~ eps*||M||*sqrt(rows) ~ 1e-13; real ones >~ 1e-3
    basis, gap = float_null(M, rtol)
    dim = len(basis)
    theta = rng.standard_normal(D)
    fields = np.array([b[:D * D].reshape(D, D) @ theta + b[D * D:] for b in basis]) if dim else np.zeros((0, D))
    orbit = float_rank(fields, 1e-8, max(1.0, np.abs(fields).max(initial=0))) if dim else 0
    # gradient subspace: combinations with A − Aᵀ = 0
    if dim:
        anti = np.array([(b[:D * D].reshape(D, D) - b[:D * D].reshape(D, D).T)[np.triu_indices(D, 1)] for b in basis]).T
        # basis rows have unit norm, so an antisymmetric part is either O(1) or rounding (~1e-15)
        grad_dim = dim - float_rank(anti, 1e-8, 1.0)
    else:
        grad_dim = 0
    return GlobalResult(dim, orbit, gap, basis, grad_dim)


# -- numerical cross-check of the exact search (any loss, batch-coupled layers) -----------------
class CrossCheckError(Exception):
    """The sampled numeric null space disagrees with the exact result (names the generator)."""


def output_jacobian(model, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    """∂f_{n,o}/∂θ for a batch X (all B·out outputs), by the reference backprop."""
    p = model.unflatten(theta)
    acts = [X]
    for layer in model.layers:
        acts.append(layer.forward(acts[-1], p))
    F = acts[-1]
    rows = []
    for n in range(F.shape[0]):
        for o in range(F.shape[1]):
            grad = np.zeros(model.D)
            g = model.unflatten(grad)
            dY = np.zeros_like(F)
            dY[n, o] = 1.0
            for layer, Xin in zip(reversed(model.layers), reversed(acts[:-1])):
                dY = layer.backward(Xin, p, dY, g)
            rows.append(grad)
    return np.array(rows)


MAX_REDRAWS = 200   # non-finite sample points in a row before the derivation refuses


def jacobian_sample(model, rng, B: int):
    """(θ, X, ∂f/∂θ) at a random float point where the model is finite.

    A random point can be singular (e.g. BatchNorm with eps = 0 after a layer whose units are all
    dead: 0/0); the symmetry identities hold on the open dense set where the model is smooth, so
    such a point is redrawn rather than let NaN rows reach a rank.  Refused (GlobalSearchError)
    when no finite point turns up in MAX_REDRAWS draws."""
    for _ in range(MAX_REDRAWS):
        theta = rng.standard_normal(model.D)
        X = rng.standard_normal((B, model.input))
        with np.errstate(all="ignore"):
            J = output_jacobian(model, theta, X)
        if np.isfinite(J).all():
            return theta, X, J
    raise GlobalSearchError(f"{model.name}: the model is non-finite at {MAX_REDRAWS} random points in a row "
                            "(e.g. a division by a zero batch variance); no symmetry can be sampled")


def numeric_null_space(model, seed: int = 0, rtol: float = 1e-9):
    """SVD null space of S J (Aθ + c) = 0 at random float points: (basis, gap, singular values)."""
    D, B = model.D, batch_size(model)
    rng = np.random.default_rng([seed, 41])
    S1 = np.array(model.loss.sensitivity(model.output), dtype=float)
    S = np.kron(np.eye(B), S1)
    N = D * D + D
    samples = N // max(len(S), 1) + 40
    blocks = []
    for _ in range(samples):
        theta, X, J = jacobian_sample(model, rng, B)
        G = S @ J
        blocks.append(np.hstack([np.einsum("or,s->ors", G, theta).reshape(len(G), -1), G]))
    M = np.vstack(blocks)
    M /= np.linalg.norm(M, axis=1, keepdims=True) + 1e-300
    # float64: exact null directions leave sv ~ eps·‖M‖·sqrt(rows) ≲ 1e-12 relative; the
    # smallest genuine ones of these well-scaled random systems are ≳ 1e-6 (the gap is reported).
    return float_null(M, rtol)


def cross_check(model, exact, seed: int = 0, tol: float = 1e-6) -> dict:
    """Compare the exact generators with the numeric null space; raise CrossCheckError naming
    the first generator (or numeric direction) that is not in the other's span."""
    D = model.D
    basis, gap = numeric_null_space(model, seed)
    E = np.array([np.concatenate([g.matrix(D).ravel(), _cvec(g, D)]) for g in exact.generators]) \
        if exact.generators else np.zeros((0, D * D + D))
    for g, row in zip(exact.generators, E):
        resid = row - basis.T @ (basis @ row) if len(basis) else row
        # projection residual of an exact null vector: rounding of the SVD basis, ≲ 1e-10·|row|
        if np.linalg.norm(resid) > tol * np.linalg.norm(row):
            raise CrossCheckError(f"exact generator {g.name} is not in the numeric null space "
                                  f"(relative residual {np.linalg.norm(resid) / np.linalg.norm(row):.2e}, "
                                  f"singular-value gap {gap[0]:.1e} / {gap[1]:.1e})")
    if len(basis) != len(E):
        Q = np.linalg.qr(E.T)[0] if len(E) else np.zeros((D * D + D, 0))
        for k, b in enumerate(basis):
            if np.linalg.norm(b - Q @ (Q.T @ b)) > tol:
                raise CrossCheckError(f"numeric null direction {k} (largest entries at "
                                      f"{_top(b, model)}) is not spanned by the exact generators; "
                                      f"singular-value gap {gap[0]:.1e} / {gap[1]:.1e}")
    return {"dim": len(basis), "gap": gap}


def _cvec(g, D):
    c = np.zeros(D)
    for r, v in g.c.items():
        c[r] = float(v)
    return c


def _top(b, model):
    D, names = model.D, model.parameters
    idx = np.argsort(-np.abs(b))[:3]
    return ", ".join(f"{names[j // D]}*{names[j % D]}" if j < D * D else names[j - D * D] for j in idx)
