"""From the explicit generators of a search (exact global or structured) to a :class:`Formed`.

The conserved charges are the exact symmetric-A combinations C = ½θᵀAθ + cᵀθ, kept while
functionally independent (docs/theory.md §3).  Layers with ``eps`` > 0 (normalisations) are also
derived at eps = 0 by the same search: the generators eps removes are reported, with how far their
charges drift along a short GD run (docs/theory.md §4, symmetry breaking).
"""

from __future__ import annotations

from .algebra import Algebra
from .charges import Charge
from .epsbreak import eps_breaking
from .method import Formed

FAMILY = "C.global.mixed"


class ExplicitAlgebra(Algebra):
    """An algebra given by explicit generators only (no per-interface families), plus the count of
    the flat fields (values in the loss's flat translations) the structured search does not list."""

    @property
    def dim(self) -> int | None:
        """None when only families were derived (too many members to build explicitly)."""
        return len(self.generators) + self.flat_members if self.generators is not None else None


def has_eps(model) -> bool:
    """Whether a layer (incl. inside residual blocks) has eps > 0."""
    return any(getattr(l, "eps", 0) for l in model.all_layers())


def formed(model, res, seed: int, method: str, search, notes=(), flat_members: int = 0,
           search_extra: dict | None = None) -> Formed:
    """``res``: the ExactResult of ``search(model, seed)``; ``method``: one line naming it."""
    alg = ExplicitAlgebra(model, [], [], generators=res.generators, flat_members=flat_members)
    # keep a functionally independent set (the others are functions of these, docs/theory.md §2)
    kept = [(res.charge_expr(i), g) for i, (g, ind) in enumerate(zip(res.charge_generators, res.independent)) if ind]
    charges = [Charge(f"C.global[{n}]", FAMILY, expr, g, 1) for n, (expr, g) in enumerate(kept)]
    notes = [f"generators from the {method}"] + list(notes)
    if len(kept) < len(res.charge_generators):
        notes.append(f"{len(res.charge_generators) - len(kept)} further gradient-field charges are functions of the "
                     f"{len(kept)} listed (rank of their gradients at a generic point)")
    extra = {"search": {"method": method, "dim": alg.dim, "orbit_rank": res.orbit_rank,
                        "n_independent_charges": res.n_independent_charges,
                        "n_gradient_charges": len(res.charge_generators), **(search_extra or {})}}
    if has_eps(model):
        report = eps_breaking(model, res, search, seed)
        extra["broken_by_eps"] = report
        if report:
            n_gen = sum("generator" in r for r in report)
            notes.append(f"eps > 0 breaks {n_gen} generator(s) and {len(report) - n_gen} charge(s) of the "
                         "eps = 0 model; see broken_by_eps")
    return Formed(alg, [], charges, notes, extra)
