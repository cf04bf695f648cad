"""Activation matching (Ainsworth, Hayase & Srinivasa 2022, §3.1; Li et al. 2016): for each
derived permutation group whose axis appears in the output of a top-level layer, match unit i of
A to unit j of B by maximising Σ_i ⟨z_A,i, z_B,π(i)⟩ over the data, with z the outputs of every
layer that carries the axis (pre- and post-activation, a residual stream at every block)."""

from __future__ import annotations

import numpy as np

from .perms import PermSet
from .weight import solve_lap


def layer_outputs(model, theta, X) -> list[np.ndarray]:
    p = model.unflatten(theta)
    outs, h = [], X
    for layer in model.layers:
        h = layer.forward(h, p)
        outs.append(h)
    return outs


def unit_features(model, layer_out, outs, shapes_out, name) -> np.ndarray | None:
    """(n, features) of axis ``name``, from every layer output whose layout carries it once."""
    feats = []
    for names, sizes, Z in zip(layer_out, shapes_out, outs):
        if names.count(name) != 1:
            continue
        Zr = Z.reshape((Z.shape[0],) + tuple(sizes))
        ax = 1 + names.index(name)
        Zr = np.moveaxis(Zr, ax, 0)
        feats.append(Zr.reshape(Zr.shape[0], -1))
    return np.concatenate(feats, axis=1) if feats else None


def activation_matching(ps: PermSet, amap, theta_a, theta_b, X) -> tuple[PermSet, list[int]]:
    """(permutations of the groups visible in layer outputs, indices of the groups that are not)."""
    model = ps.model
    oa, ob = layer_outputs(model, theta_a, X), layer_outputs(model, theta_b, X)
    sizes = amap.layer_sizes
    hidden = []
    out = PermSet(model, ps.shapes, ps.groups, [p.copy() for p in ps.perms])
    for k, g in enumerate(ps.groups):
        fa = unit_features(model, amap.layer_out, oa, sizes, g.axis.name) if g.per is None else None
        if fa is None:
            hidden.append(k)
            continue
        fb = unit_features(model, amap.layer_out, ob, sizes, g.axis.name)
        out.perms[k][0] = solve_lap(fa @ fb.T)
    return out, hidden
