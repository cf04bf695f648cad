"""``derive`` for models the per-interface method does not cover (any layer, any loss).

The generators come from the exact global search (:mod:`.global_exact`) for small models and
from the structured search (:mod:`.layerwise`: families on reduced widths, lifted) beyond that; the conserved charges are the
exact symmetric-A combinations C = ½θᵀAθ + cᵀθ (docs/theory.md §3).  Layers with ``eps`` > 0
(normalisations) are also derived at eps = 0: the generators eps removes are reported, with how
far their charges drift along a short GD run (docs/theory.md §4, symmetry breaking).
"""

from __future__ import annotations

from .algebra import Algebra
from .charges import Charge
from .global_exact import MAX_GLOBAL_D, global_exact, _all_layers
from ..errors import SpecError
from .layerwise import describe_family, structured
from .epsbreak import eps_breaking

FAMILY = "C.global.mixed"


class ExplicitAlgebra(Algebra):
    """An algebra given by explicit generators only (no per-interface families), plus the count of
    the flat fields (values in the loss's flat translations) the structured search does not list."""

    @property
    def dim(self) -> int | None:
        """None when only families were derived (too many members to build explicitly)."""
        return len(self.generators) + self.flat_members if self.generators is not None else None
      # explicit per-parameter charges (printed one by one by codegen)


METHODS = ("auto", "global", "structured")


def general_algebra(model, seed: int = 0, method: str = "auto"):
    """(Algebra with explicit generators, [Charge], notes, json extras).

    ``method``: "global" (exact global search, D ≤ MAX_GLOBAL_D), "structured" (families derived
    on reduced widths and lifted, :mod:`.layerwise`), or "auto" (structured; global for models of
    at most MAX_GLOBAL_D parameters with a layer eps > 0)."""
    if method not in METHODS:
        raise SpecError("method", f"unknown method {method!r}; accepted: " + ", ".join(METHODS))
    if method == "global" and model.D > MAX_GLOBAL_D:
        raise SpecError("method", f"the exact global search handles up to {MAX_GLOBAL_D} parameters; this "
                        f"model has {model.D}: use --method structured (or auto)")
    structured_info = None
    # auto: the structured search, certified exactly modulo a prime at the real widths when they
    # need no reduction (small models); the exact global search (minutes on ~50 parameters of
    # attention or conv) when asked for, or for small models with eps > 0: eps leaves
    # near-symmetries whose singular values sit at the eps level, where a sampled float null
    # space has no clear gap, while exact elimination separates them
    has_eps = any(getattr(l, "eps", 0) for l in _all_layers(model))
    if method == "global" or (method == "auto" and has_eps and model.D <= MAX_GLOBAL_D):
        res = global_exact(model, seed)
        method = f"exact global search ({res.backend}, {res.rows} independent equations, {res.samples} samples)"
        search = global_exact
    else:
        sres = structured(model, seed)
        structured_info = {
            "reduced_D": sres.reduced_D, "members": sres.members, "certified": sres.certified,
            "flat_members": sres.flat_members,
            "families": [{"name": f.name, "count": len(f.vectors), "patterns": len(f.keys),
                          "gap": list(f.gap), "first": describe_family(f, f.vectors[0])} for f in sres.families]}
        method = (f"structured search: {len(sres.families)} families derived at reduced widths "
                  f"(D = {sres.reduced_D}) and lifted; certified {sres.certified}")
        search = lambda m, s: structured(m, s).exact   # noqa: E731  (eps = 0 model, same method)
        if sres.exact is None:
            alg = ExplicitAlgebra(model, [], [], generators=None)
            extra = {"search": {"method": method, "dim": None, "orbit_rank": None,
                                "n_independent_charges": None, "structured": structured_info}}
            # no explicit generators, so no charges were built: None, never an empty list (0 charges)
            return alg, None, [f"generators from the {method}"] + sres.notes, extra
        res = sres.exact
    alg = ExplicitAlgebra(model, [], [], generators=res.generators)
    if structured_info:
        alg.flat_members = sres.flat_members
    # keep a functionally independent set (the others are functions of these, docs/theory.md §2)
    kept = [(res.charge_expr(i), g) for i, (g, ind) in enumerate(zip(res.charge_generators, res.independent)) if ind]
    charges = [Charge(f"C.global[{n}]", FAMILY, expr, g, 1) for n, (expr, g) in enumerate(kept)]
    notes = [f"generators from the {method}"] + (sres.notes if structured_info else [])
    if len(kept) < len(res.charge_generators):
        notes.append(f"{len(res.charge_generators) - len(kept)} further gradient-field charges are functions of the "
                     f"{len(kept)} listed (rank of their gradients at a generic point)")
    extra = {"search": {"method": method, "dim": alg.dim, "orbit_rank": res.orbit_rank,
                        "n_independent_charges": res.n_independent_charges,
                        "n_gradient_charges": len(res.charge_generators)}}
    if structured_info:
        extra["search"]["structured"] = structured_info
    if has_eps:                                # incl. layers inside residual blocks
        report = eps_breaking(model, res, seed, search=search)
        extra["broken_by_eps"] = report
        if report:
            n_gen = sum("generator" in r for r in report)
            notes.append(f"eps > 0 breaks {n_gen} generator(s) and {len(report) - n_gen} charge(s) of the "
                         "eps = 0 model; see broken_by_eps")
    return alg, charges, notes, extra
