"""Regions of parameter space fixed by the data: which piece of σ each hidden unit occupies.

For parameters θ and inputs X every unit of a piecewise activation layer either keeps all its
pre-activations inside one piece of σ (for ReLU: ``dead`` or ``bypassed``, always active) or
spans several (``mixed``).  On the pinned units σ may be replaced by its piece: the *locally
reduced model* has the same loss as the model on every θ' whose pre-activations on X stay in the
same pieces, so its symmetries are the local symmetries there (the dead and bypassed units of
the comments to the LessWrong post on parameter-space symmetries; Zhao et al., ICLR 2023, §4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..errors import SpecError
from .activation import Activation
from .catalogue import z
from .pieces import Piece, locate, pieces
from .user import user_layer
from .model import Model


@dataclass
class UnitRegion:
    layer: int            # the parametrised layer feeding the activation (1-based, as in W<layer>)
    position: int         # index of the activation layer in model.layers
    unit: int
    piece: int | None     # None: the samples span several pieces
    margin: float         # least distance of a pre-activation to the ends of its piece
    pieces: list[Piece]
    samples: int

    @property
    def region(self) -> str:
        return "mixed" if self.piece is None else self.pieces[self.piece].kind

    @property
    def pinned(self) -> bool:
        return self.piece is not None

    def condition(self) -> str:
        if self.piece is None:
            return f"unit {self.unit} of L{self.layer}: mixed"
        return (f"unit {self.unit} of L{self.layer} {self.pieces[self.piece].condition()} on all "
                f"{self.samples} samples; margin {self.margin:.3g}")

    def to_json(self) -> dict:
        return {"layer": self.layer, "unit": self.unit, "region": self.region, "piece": self.piece,
                "margin": self.margin, "condition": self.condition()}


def _feeding_index(model, position: int) -> int:
    for layer in reversed(model.layers[:position]):
        if layer.index:
            return layer.index
    return 0


def preactivations(model, theta: np.ndarray, X: np.ndarray) -> dict[int, np.ndarray]:
    """Inputs (N × width) of every top-level activation layer, keyed by its position."""
    p = model.unflatten(np.asarray(theta, float))
    out, H = {}, np.asarray(X, float)
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Activation):
            out[i] = H
        H = layer.forward(H, p)
    return out


def activation_pieces(model) -> dict[int, list[Piece]]:
    """Pieces of σ for each top-level activation layer with more than one piece."""
    out = {}
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Activation):
            pcs = pieces(layer.expr)
            if len(pcs) > 1:
                out[i] = pcs
    return out


def classify(model, theta: np.ndarray, X: np.ndarray, pcs: dict[int, list[Piece]] | None = None) -> list[UnitRegion]:
    """The region of every unit of every piecewise activation layer, for the samples ``X``."""
    theta, X = np.asarray(theta, float), np.asarray(X, float)
    if theta.shape != (model.D,):
        raise SpecError("--params", f"must hold {model.D} parameters for this spec, got shape {theta.shape}")
    if X.ndim != 2 or X.shape[1] != model.input or X.shape[0] == 0:
        raise SpecError("--data", f"X must have shape (N, {model.input}) with N >= 1, got {X.shape}")
    pcs = activation_pieces(model) if pcs is None else pcs
    pre = preactivations(model, theta, X)
    out = []
    for pos, pl in pcs.items():
        Z = pre[pos]
        for u in range(Z.shape[1]):
            k, m = locate(pl, Z[:, u])
            out.append(UnitRegion(_feeding_index(model, pos), pos, u, k, m, pl, X.shape[0]))
    return out


def still_in(model, regions: list[UnitRegion], theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    """For each pinned region: do the pre-activations at ``theta`` stay strictly inside its piece?"""
    pre = preactivations(model, theta, X)
    ok = []
    for r in regions:
        p = r.pieces[r.piece]
        v = pre[r.position][:, r.unit]
        ok.append(bool(np.all((v > float(p.lo)) & (v < float(p.hi)))))
    return np.array(ok, dtype=bool)


def reduced_model(model, regions: list[UnitRegion]):
    """The locally reduced model: σ on each pinned unit replaced by its piece's expression."""
    fresh = Model.from_dict(model.to_dict(), name=f"{model.name}.local")
    by_pos: dict[int, dict[int, sp.Expr]] = {}
    for r in regions:
        if r.pinned:
            by_pos.setdefault(r.position, {})[r.unit] = r.pieces[r.piece].expr
    layers = list(fresh.layers)
    for pos, units in by_pos.items():
        sig = layers[pos].expr
        exprs = [units.get(u, sig) for u in range(layers[pos].in_dim)]

        def forward(x, p, exprs=exprs):
            return [e.subs(z, xi) for e, xi in zip(exprs, x)]
        layers[pos] = user_layer(f"local{pos}", blocks={}, out=len(exprs), forward=forward)
    return Model(fresh.features, layers, loss=fresh.loss_name, name=fresh.name, seq=fresh.seq)
