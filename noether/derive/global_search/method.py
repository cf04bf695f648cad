"""The exact global search as a derivation method (models of up to MAX_GLOBAL_D parameters)."""

from __future__ import annotations

from ..explicit import formed
from ..method import Formed, Method
from .exact import MAX_GLOBAL_D, global_exact


class GlobalSearch(Method):
    name = "global"

    def applies(self, model) -> str | None:
        if model.D > MAX_GLOBAL_D:
            return (f"the exact global search handles up to {MAX_GLOBAL_D} parameters; this model has "
                    f"{model.D}: use --method structured (or auto)")
        return None

    def form(self, model, seed: int = 0) -> Formed:
        res = global_exact(model, seed)
        method = f"exact global search ({res.backend}, {res.rows} independent equations, {res.samples} samples)"
        return formed(model, res, seed, method, global_exact)
