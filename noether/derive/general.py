"""``derive`` for models the per-interface method does not cover (any layer, any loss).

The generators come from the exact global search (:mod:`.global_exact`) for small models and
from the structured window method (:mod:`.layerwise`) beyond that; the conserved charges are the
exact symmetric-A combinations C = ½θᵀAθ + cᵀθ (THEORY.md §3).  Layers with ``eps`` > 0
(normalisations) are also derived at eps = 0: the generators eps removes are reported, with how
far their charges drift along a short GD run (THEORY.md §8, symmetry breaking).
"""

from __future__ import annotations

import numpy as np

from .algebra import Algebra
from .charges import Charge
from .global_exact import MAX_GLOBAL_D, global_exact, summarise

FAMILY = "C.global.mixed"


class ExplicitAlgebra(Algebra):
    """An algebra given by explicit generators only (no per-interface families)."""

    @property
    def dim(self) -> int:
        return len(self.generators)
      # explicit per-parameter charges (printed one by one by codegen)


def general_algebra(model, seed: int = 0):
    """(Algebra with explicit generators, [Charge], notes, json extras)."""
    if model.D <= MAX_GLOBAL_D:
        res = global_exact(model, seed)
        method = f"exact global search ({res.backend}, {res.rows} independent equations, {res.samples} samples)"
    else:
        from ..errors import SpecError
        raise SpecError("model", f"D = {model.D}: models beyond the per-interface method (linear and "
                        f"elementwise layers, mse) are derived by the exact global search, up to "
                        f"{MAX_GLOBAL_D} parameters")
    alg = ExplicitAlgebra(model, [], [], generators=res.generators)
    # keep a functionally independent set (the others are functions of these, THEORY.md §2)
    kept = [(expr, g) for (expr, g), ind in zip(res.charges, res.independent) if ind]
    charges = [Charge(f"C.global[{n}]", FAMILY, expr, g, 1) for n, (expr, g) in enumerate(kept)]
    notes = [f"generators from the {method}"]
    if len(kept) < len(res.charges):
        notes.append(f"{len(res.charges) - len(kept)} further gradient-field charges are functions of the "
                     f"{len(kept)} listed (rank of their gradients at a generic point)")
    extra = {"search": {"method": method, "dim": res.dim, "orbit_rank": res.orbit_rank,
                        "n_independent_charges": res.n_independent_charges,
                        "n_gradient_charges": len(res.charges)}}
    from .global_exact import _all_layers
    eps_layers = [l for l in _all_layers(model) if getattr(l, "eps", 0)]   # incl. inside residual blocks
    if eps_layers and model.D <= MAX_GLOBAL_D:
        from .epsbreak import eps_breaking
        report = eps_breaking(model, res, seed)
        extra["broken_by_eps"] = report
        if report:
            n_gen = sum("generator" in r for r in report)
            notes.append(f"eps > 0 breaks {n_gen} generator(s) and {len(report) - n_gen} charge(s) of the "
                         "eps = 0 model; see broken_by_eps")
    return alg, charges, notes, extra
