"""The structured search as a derivation method (any size: families at reduced widths, lifted)."""

from __future__ import annotations

from ..explicit import ExplicitAlgebra, formed
from ..method import Formed, Method
from .search import describe_family, structured


def _exact(model, seed):
    """The structured search's explicit result (the eps = 0 model is derived the same way)."""
    return structured(model, seed).exact


class Structured(Method):
    name = "structured"

    def applies(self, model) -> str | None:
        return None

    def form(self, model, seed: int = 0) -> Formed:
        sres = structured(model, seed)
        info = {"structured": {
            "reduced_D": sres.reduced_D, "members": sres.members, "certified": sres.certified,
            "flat_members": sres.flat_members,
            "families": [{"name": f.name, "count": len(f.vectors), "patterns": len(f.keys),
                          "gap": list(f.gap), "first": describe_family(f, f.vectors[0])} for f in sres.families]}}
        method = (f"structured search: {len(sres.families)} families derived at reduced widths "
                  f"(D = {sres.reduced_D}) and lifted; certified {sres.certified}")
        if sres.exact is None:
            # no explicit generators, so no charges were built: None, never an empty list (0 charges)
            extra = {"search": {"method": method, "dim": None, "orbit_rank": None,
                                "n_independent_charges": None, **info}}
            return Formed(ExplicitAlgebra(model, [], [], generators=None), [], None,
                          [f"generators from the {method}"] + sres.notes, extra)
        return formed(model, sres.exact, seed, method, _exact, sres.notes, sres.flat_members, info)
