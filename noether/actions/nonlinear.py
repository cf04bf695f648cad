"""The data-dependent nonlinear group action of Zhao, Ganev, Walters, Yu, Dehmamy (ICLR 2023,
"Symmetries, flat minima, and the conserved quantities of gradient flow", Thm 4.1):

    g · (U, V, x) = (U σ(Vx) σ(gVx)⁺, gV, x)

on one hidden interface Linear(V, b) → σ → Linear(U), for a batch of inputs x.  With the batch's
hidden activations S' = σ(gVx) of full rank (so batch ≤ width), U' σ(gVx) = U σ(Vx) holds exactly
on the batch: the batch loss is unchanged to float64 rounding, the loss elsewhere is not.  The
bias b of V is acted on with V (b' = g b).  With batch < width, U' is the solution nearest U.  σ is any elementwise chain between the two linear
layers; zeros of σ on the batch are refused, as in the theorem.
"""

from __future__ import annotations

import numpy as np

from ..errors import SpecError
from ..model.linear import Linear


def interface(model, layer: int):
    """Positions (p_in, elementwise positions, p_out) of Linear ``layer`` → σ → Linear."""
    pos = [i for i, l in enumerate(model.layers) if isinstance(l, Linear) and l.index == layer]
    if not pos:
        names = [l.index for l in model.layers if isinstance(l, Linear)]
        raise SpecError("--layer", f"must be the index of a linear layer followed by an activation and a linear "
                        f"layer; linear layers: {names}, got {layer}")
    p = pos[0]
    q = p + 1
    while q < len(model.layers) and getattr(model.layers[q], "elementwise", False) and not model.layers[q].index:
        q += 1
    if q == p + 1 or q >= len(model.layers) or not isinstance(model.layers[q], Linear):
        raise SpecError("--layer", f"linear layer {layer} must be followed by elementwise activations and a linear layer")
    return p, list(range(p + 1, q)), q


def hidden_activations(model, theta: np.ndarray, X: np.ndarray, layer: int = 1) -> np.ndarray:
    """σ(Vx + b) of the interface after linear layer ``layer`` for the batch ``X``: N × width."""
    p_in, acts, _ = interface(model, layer)
    params = model.unflatten(np.asarray(theta, float))
    H = X
    for layer_ in model.layers[:p_in + 1]:
        H = layer_.forward(H, params)
    for a in acts:
        H = model.layers[a].forward(H, params)
    return H


def nonlinear_action(model, theta: np.ndarray, X: np.ndarray, g: np.ndarray, layer: int = 1,
                     rcond: float | None = None) -> np.ndarray:
    """θ' = g·θ for the batch ``X`` (N × input) on hidden interface ``layer`` (Zhao et al. Thm 4.1).

    ``g`` is an invertible width × width matrix (e.g. ``scipy.linalg.expm`` of an algebra element).
    Refused with one line: batch larger than the width, σ(gVx) of deficient rank, a zero of σ on
    the batch, a singular g."""
    theta = np.asarray(theta, float)
    X = np.asarray(X, float)
    if theta.shape != (model.D,) or not np.isfinite(theta).all():
        raise SpecError("--params", f"must hold {model.D} finite parameters for this spec, got shape {theta.shape}")
    if X.ndim != 2 or X.shape[1] != model.input:
        raise SpecError("--data", f"X must have shape (N, {model.input}), got {X.shape}")
    p_in, acts, p_out = interface(model, layer)
    lin, out = model.layers[p_in], model.layers[p_out]
    h = lin.out_dim()
    g = np.asarray(g, float)
    if g.shape != (h, h):
        raise SpecError("g", f"must be a {h} x {h} matrix (the width of layer {layer}), got {g.shape}")
    N = X.shape[0]
    if N > h:
        raise SpecError("--batch", f"the nonlinear action needs batch <= width: {N} samples, width {h} "
                        f"(σ(gVx) is {h} x {N} and must have full column rank)")
    sv_g = np.linalg.svd(g, compute_uv=False)
    if sv_g[-1] <= h * np.finfo(float).eps * sv_g[0]:
        raise SpecError("g", f"must be invertible; its smallest singular value is {sv_g[-1]:.3g}")
    params = model.unflatten(theta)
    new = theta.copy()
    newp = model.unflatten(new)
    newp[lin.W][...] = g @ params[lin.W]
    if lin.bias:
        newp[lin.b][...] = g @ params[lin.b]
    S, S2 = hidden_activations(model, theta, X, layer), hidden_activations(model, new, X, layer)
    for name, M in (("σ(Vx)", S), ("σ(gVx)", S2)):
        if np.any(M == 0):
            r, c = np.argwhere(M == 0)[0]
            raise SpecError("activation.fn", f"{name} is zero on the batch (sample {r}, unit {c}); the nonlinear "
                            "action needs σ with no zero on the batch's pre-activations")
    sv = np.linalg.svd(S2, compute_uv=False)
    tol = rcond if rcond is not None else max(S2.shape) * np.finfo(float).eps * sv[0] * 1e3
    rank = int(np.sum(sv > tol))
    if rank < N:
        raise SpecError("--batch", f"σ(gVx) ({h} x {N}) has rank {rank} < {N}: the batch's hidden activations "
                        "must be linearly independent (batch <= width and generic data)")
    # U' σ(gVx) = U σ(Vx) on the batch.  With batch = width this fixes U' = U σ(Vx) σ(gVx)⁻¹ (the
    # theorem's formula); with batch < width we take the solution nearest U:
    # U'ᵀ = Uᵀ + S2⁺ (S − S2) Uᵀ, exact on the batch because S2 has full row rank N
    U = params[out.W]
    Ut = U.T + np.linalg.lstsq(S2, (S - S2) @ U.T, rcond=None)[0]
    newp[out.W][...] = Ut.T
    return new


def nonlinear_teleport(model, theta, X, Y, g, layer: int = 1, X_held=None, Y_held=None) -> dict:
    """Apply :func:`nonlinear_action` and report the loss on the batch (unchanged to rounding) and
    on held-out data (which changes), for one given g (``teleport --action nonlinear`` searches g:
:func:`noether.teleport_nonlinear.teleport_nonlinear`)."""
    new = nonlinear_action(model, theta, X, g, layer)

    def loss(th, A, B):
        return float(model.loss.value(model.forward(th, A), B))
    out = {"theta": new, "batch_loss_before": loss(theta, X, Y), "batch_loss_after": loss(new, X, Y)}
    out["batch_loss_change"] = out["batch_loss_after"] - out["batch_loss_before"]
    if X_held is not None:
        out["heldout_loss_before"] = loss(theta, X_held, Y_held)
        out["heldout_loss_after"] = loss(new, X_held, Y_held)
    return out
