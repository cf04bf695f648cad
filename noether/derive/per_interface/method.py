"""The per-interface method: MLPs of linear and elementwise layers under MSE, solved one hidden
interface at a time in closed form (docs/theory.md §2), with families exact at any width."""

from __future__ import annotations

from ...model.linear import Linear
from ..charges import charge_families, explicit_charges, residual_charges
from ..method import EXPLICIT_D, Formed, Method
from .families import build_algebra


class PerInterface(Method):
    name = "interface"

    def applies(self, model) -> str | None:
        if model.loss_name != "mse":
            return f"the per-interface method takes the MSE loss only, not {model.loss_name}"
        bad = [l for l in model.layers if not (isinstance(l, Linear) or l.elementwise)]
        if bad:
            return f"the per-interface method takes linear and elementwise layers only, not {type(bad[0]).__name__}"
        return None

    def form(self, model, seed: int = 0) -> Formed:
        alg = build_algebra(model)
        fams = charge_families(alg)
        charges, notes = None, []
        if alg.explicit and model.D <= EXPLICIT_D:
            charges = explicit_charges(alg, fams)
            extra, notes = residual_charges(alg, fams)
            charges += extra
        if charges is None:
            notes.append("charges are given per family; explicit per-parameter charges only for D <= "
                         f"{EXPLICIT_D}")
        return Formed(alg, fams, charges, notes)
