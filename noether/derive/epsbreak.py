"""Which symmetries a normalisation's eps breaks, and by how much along a run.

The model is derived again with every ``eps`` set to 0 (where scale symmetries are exact); the
generators of that algebra outside the eps > 0 algebra are the broken ones.  For each, the
report gives the violation |∇L·X| / (|∇L| |X|) at the seeded initial point, and for each broken
charge its relative drift max_k |C(θ_k) − C(θ_0)| / |C(θ_0)| along a seeded full-batch GD run of
the eps > 0 model (numpy reference), to compare with the GD law's η² term on the exact model.
"""

from __future__ import annotations

import copy

import numpy as np

from ..model.draws import initial_parameters, random_data
from .span import Span


def zero_eps_model(model):
    m0 = copy.deepcopy(model)
    for layer in m0.all_layers():            # incl. inside residual blocks
        if layer.eps:
            layer.eps = 0.0
            layer.__dict__.pop("_sym", None)
            layer.__dict__.pop("_np", None)
    return m0


def eps_breaking(model, res, search, seed: int = 0, steps: int = 200, lr: float = 0.05) -> list[dict]:
    """``res``: the eps > 0 result of ``search(model, seed)`` (the exact global or the structured
    search), which is run again on the eps = 0 model."""
    D = model.D
    res0 = search(zero_eps_model(model), seed)
    span = Span(D)
    for g in res.generators:
        span.add(g)
    broken = [g for g in res0.generators if span.add(g)]     # a basis of what eps removes
    if not broken:
        return []
    X, Y = random_data(model, 32, seed)
    theta = initial_parameters(model, seed)
    _, grad = model.loss_and_grad(theta, X, Y)
    out = []
    traj = [theta.copy()]
    th = theta.copy()
    for _ in range(steps):
        th = th - lr * model.loss_and_grad(th, X, Y)[1]
        traj.append(th.copy())
    syms = model.symbols
    for g in broken:
        Xv = g.evaluate(theta)
        viol = abs(grad @ Xv) / (np.linalg.norm(grad) * np.linalg.norm(Xv) + 1e-300)
        out.append({"generator": g.name, "field": {k: str(v) for k, v in g.field_exprs(syms, model.parameters).items()},
                    "violation_at_init": float(viol)})
    # broken charges: eps = 0 charges that are not charges of the eps > 0 model
    have = Span(D)
    for cg in res.charge_generators:
        have.add(cg)
    for i, cg in enumerate(res0.charge_generators):
        if not have.add(cg):
            continue
        expr = res0.charge_expr(i)
        c = [0.5 * t @ cg.matrix(D) @ t + cg.evaluate(np.zeros(D)) @ t for t in traj]
        drift = max(abs(v - c[0]) for v in c) / (abs(c[0]) + 1e-300)
        out.append({"charge": str(expr), "relative_drift": float(drift), "steps": steps, "lr": lr})
    return out
