"""The Derivation: everything the sympy layer derives for a model, as one plain object.

``derive(model)`` -> algebra (generator families and, for small models, explicit generators),
gradient-field classification, conserved charges (indexed block formulas at any size, explicit
per-parameter expressions for small models), orbit rank and functional independence at a generic
point, discrete symmetries, Bregman-Lagrangian Noether charges with their sources, and the exact
per-step law of each optimizer.  ``to_json()`` is what ``noether derive --json`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy as sp

from ..errors import SpecError
from ..optim import OPTIMIZERS
from .algebra import Algebra
from .charges import Charge, ChargeFamily, i_, j_, k_
from .discrete import derive_discrete, discrete_symmetries
from .explicit import has_eps
from .generator import Generator
from .global_search.exact import MAX_GLOBAL_D
from .global_search.method import GlobalSearch
from .lagrangian import derive_bregman, eta, gamma, t
from .laws import Law, derive_law, NotLinear, derive_state_law
from .linalg import float_rank, rational_null
from .method import EXPLICIT_D, Method
from .per_interface.families import Family
from .per_interface.method import PerInterface
from .rank import field_rank
from .structured.flat import flat_rotations
from .structured.method import Structured

#: The derivation methods by the name ``derive --method`` accepts (besides "auto").
METHODS: dict[str, Method] = {m.name: m for m in (PerInterface(), GlobalSearch(), Structured())}


@dataclass
class Derivation:
    model: object
    algebra: Algebra
    charge_families: list[ChargeFamily]
    charges: list[Charge] | None
    seed: int = 0
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)     # keys added by the general route (search, broken_by_eps)

    # -- counts ---------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.algebra.dim

    @cached_property
    def generic_theta(self) -> np.ndarray:
        return self.model.init(np.random.default_rng(self.seed + 12345))

    @cached_property
    def _orbit(self):
        if not self.algebra.explicit:
            return None
        return field_rank(self.algebra.generators, self.generic_theta)

    @property
    def orbit_rank(self) -> int | None:
        return self._orbit.rank if self._orbit else None

    @cached_property
    def _charge_rank(self):
        if self.charges is None:
            return None
        res = field_rank([c.generator for c in self.charges], self.generic_theta)
        for c, ind in zip(self.charges, res.independent):
            c.independent = ind
        return res

    @property
    def n_charges(self) -> int | None:
        """None when neither charge families nor explicit charges were built (the structured search
        beyond its member limit): the number is unknown, not zero."""
        if self.charges is None and not self.charge_families:
            return None
        extra = sum(1 for c in self.charges if ".mixed" in c.family) if self.charges else 0
        return sum(f.count for f in self.charge_families) + extra

    def require_charges(self, what: str) -> None:
        """Refuse (SpecError) a check of the charges when none were built, rather than pass on zero."""
        if self.n_charges is None:
            why = next((n for n in self.notes if "not built" in n), "no charges were built")
            raise SpecError("model", f"{self.model.name}: {what} needs the derived charges, and this derivation "
                            f"built none at D = {self.model.D} ({why})")

    @property
    def n_independent_charges(self) -> int | None:
        return self._charge_rank.rank if self._charge_rank else None

    @cached_property
    def rotations(self) -> list:
        """Combinations of the explicit generators with antisymmetric A: their Bregman / heavy-ball
        Noether charges Q = e^{γt}(Aθ + c)·θ̇ have zero source (docs/theory.md §6), exactly."""
        if not self.algebra.explicit:
            return []
        out = []
        groups = []
        for itf in self.algebra.interfaces:
            names = {f.name for f in self.algebra.families if f.itf is itf}
            groups.append((itf.name, [g for g in self.algebra.generators if g.family in names]))
        # no interfaces: the exact global search found the algebra as a whole, and its
        # antisymmetric combinations are searched over all of it (this read 0 before)
        if not groups:
            groups.append(("global", list(self.algebra.generators)))
        for name, gens in groups:
            # every unordered pair {r, c} that any A touches, in either order
            keys = sorted({(min(r, c), max(r, c)) for g in gens for r, c in g.A})
            sym = [[g.A.get((r, c), 0) + g.A.get((c, r), 0) for g in gens] for r, c in keys]
            for k, vec in enumerate(rational_null(sym, len(gens)) if gens else []):
                out.append(Generator.combine(list(zip(vec, gens)), f"R.{name}.{k}", f"R.{name}"))
        if self.algebra.flat_members:
            # the fields with values in the loss's flat translations are counted, not listed;
            # their rotations t uᵀ − u tᵀ are built from the listed translations (.flat)
            out += flat_rotations([g for g in self.algebra.generators if g.c and not g.A])
        return out

    def n_independent_noether_charges(self, gamma: float = 1.0) -> int | None:
        """Functional rank of the zero-source Noether charges Q_k(t, θ, θ̇) at a generic point:
        the rank of their gradients (γQ_k, Aᵀθ̇, Aθ + c) at t = 0."""
        if not self.algebra.explicit:
            return None
        rng = np.random.default_rng(self.seed + 999)
        theta, v = self.generic_theta, rng.standard_normal(self.model.D)
        rows = []
        for g in self.rotations:
            X = g.evaluate(theta)
            r, c, a, _, _ = g.numeric()
            At_v = np.zeros(self.model.D)
            np.add.at(At_v, c, a * v[r])
            rows.append(np.concatenate([[gamma * (X @ v)], At_v, X]))
        if not rows:
            return 0
        return float_rank(np.array(rows), 1e-9)   # exact small-integer data: rank gap is wide

    # -- laws -----------------------------------------------------------------------------------
    def law(self, optimizer: str = "gd", **hyper) -> Law:
        return derive_law(OPTIMIZERS[optimizer](**hyper))

    @cached_property
    def bregman(self):
        return derive_bregman()

    @cached_property
    def discrete_groups(self):
        """The derived discrete symmetry groups (:class:`.discrete.DiscreteGroup`)."""
        return derive_discrete(self.model, self.seed)

    @cached_property
    def discrete(self) -> list[dict]:
        return discrete_symmetries(self.model, self.algebra, self.seed, self.discrete_groups)

    # -- presentation ---------------------------------------------------------------------------
    def family_field(self, fam: Family) -> dict[str, str]:
        idx = (i_,) if fam.kind in ("unit", "unit-tied") else (i_, j_)
        return {k: str(v) for k, v in indexed_field(fam.itf, fam.comps(*idx)).items()}

    def to_json(self) -> dict:
        m = self.model

        def _law_json(name: str) -> dict:
            """Every optimizer's per-step law (default hyperparameters; ``general``: all symbolic)."""
            rule = OPTIMIZERS[name]()
            law = derive_law(rule)
            d = {"rhs": str(law.rhs) if law.closed else "no closed law", "latex": law.latex(),
                 "identity": law.identity, "closed": law.closed,
                 "update": {k: str(v) for k, v in rule.update().items()}}
            if not law.closed:
                d["note"] = law.note
                return d
            d["rhs_general"] = str(derive_law(rule, general=True).rhs)
            if rule.state:
                try:
                    sl = derive_state_law(rule)
                    d["state_law"] = {"state": sl.state, "rho": str(sl.rho), "source": str(sl.source),
                                      "source_rotation": str(sl.source_rotation), "latex": sl.latex()}
                except NotLinear:
                    pass
            return d

        # beyond EXPLICIT_D the per-interface method gives its generators and charges as indexed
        # families; an algebra of explicit generators only (the general route) has no families,
        # so it is listed as it is at any size
        explicit = self.algebra.explicit and (m.D <= EXPLICIT_D or not self.algebra.families)
        syms = m.symbols
        out: dict = {
            "model": m.to_dict(),
            "parameters": m.parameters,
            "algebra": {"dim": self.dim, "orbit_rank": self.orbit_rank,
                        "orbit_rank_gap": list(self._orbit.gap) if self._orbit else None},
            "interfaces": [{"name": itf.name, "sigma": str(itf.sigma), "width": itf.h,
                            "absorbed_by": itf.right.W if itf.right is not None else "loss",
                            "method": itf.sol.method, "certificates": list(itf.sol.certificates)}
                           for itf in self.algebra.interfaces],
            "families": [{"name": f.name, "interface": f.itf.name, "kind": f.kind, "count": f.count,
                          "vector": [str(x) for x in f.vector], "field": self.family_field(f),
                          "gradient_field": f.instance(f.index_sets()[0]).is_gradient}
                         for f in self.algebra.families],
            "charge_families": [{"name": cf.name, "kind": cf.kind, "count": cf.count,
                                 "indexed": str(cf.indexed(_itf_of(cf))),
                                 "latex": sp.latex(cf.indexed(_itf_of(cf)))}
                                for cf in self.charge_families],
            "n_charges": self.n_charges,
            "n_independent_charges": self.n_independent_charges,
            "discrete": self.discrete,
            "laws": {name: _law_json(name) for name in OPTIMIZERS},
            "bregman": {"lagrangian": "exp(gamma*t)*(|thetadot|^2/(2*eta) - gamma*V(theta))",
                        "euler_lagrange": str(self.bregman.el_equation),
                        "charge": str(self.bregman.charge), "source": str(self.bregman.source_expr)},
            "notes": self.notes + self.algebra.notes,
        }
        if explicit:
            gens = self.algebra.generators
            out["generators"] = [{"name": g.name, "family": g.family, "gradient_field": g.is_gradient,
                                  "field": {k: str(v) for k, v in g.field_exprs(syms, m.parameters).items()}}
                                 for g in gens]
            self._charge_rank  # sets .independent
            out["charges"] = [{"name": c.name, "family": c.family, "expr": str(c.expr),
                               "latex": sp.latex(c.expr), "generator": c.generator.name,
                               "independent": c.independent} for c in self.charges]
            out["noether_charges"] = [{"generator": g.name, **{k: str(v) for k, v in
                                       noether_charge(g, syms).items()}} for g in gens]
        else:
            out["generators"] = [{"name": f.name + "[*]", "family": f.name, "count": f.count,
                                  "gradient_field": f.instance(f.index_sets()[0]).is_gradient,
                                  "field": self.family_field(f)} for f in self.algebra.families]
            out["charges"] = [{"name": cf.name + "[*]", "family": cf.name, "count": cf.count,
                               "expr": str(cf.indexed(_itf_of(cf))), "latex": sp.latex(cf.indexed(_itf_of(cf))),
                               "generator": cf.generator_names((i_,) if cf.kind == "unit" else (i_, j_))}
                              for cf in self.charge_families]
            out["noether_charges"] = [{"generator": f.name + "[*]", "expr": str(self.bregman.charge),
                                       "source": str(self.bregman.source_expr) if not
                                       f.instance(f.index_sets()[0]).is_antisymmetric() else "0"}
                                      for f in self.algebra.families]
            out["notes"].append(f"D = {m.D} > {EXPLICIT_D}: generators and charges are given as indexed families")
        out.update(self.extra)
        return out


def _itf_of(cf: ChargeFamily):
    return cf.terms[0][1].itf


def indexed_field(itf, comps) -> dict[str, sp.Expr]:
    """δθ of a lifted generator, as indexed block entries (free indices i, j; k runs)."""
    L, R = itf.left, itf.right
    W = sp.IndexedBase(L.W)
    b = sp.IndexedBase(L.b) if L.bias else None
    out: dict = {}

    def acc(key, val):
        out[key] = out.get(key, 0) + val

    for comp in comps:
        kind, val = comp[0], comp[-1]
        if val == 0:
            continue
        if kind == "M":
            a, c = comp[1], comp[2]
            acc(W[a, k_], val * W[c, k_])
            if b is not None:
                acc(b[a], val * b[c])
        elif kind == "c":
            acc(b[comp[1]], val)
        elif kind == "P":
            U = sp.IndexedBase(R.W)
            acc(U[k_, comp[2]], -val * U[k_, comp[1]])
        elif kind == "d":
            U, br = sp.IndexedBase(R.W), sp.IndexedBase(R.b)
            acc(br[k_], -val * U[k_, comp[1]])
    return {str(k): sp.expand(v) for k, v in out.items() if sp.expand(v) != 0}


def noether_charge(g, syms) -> dict[str, sp.Expr]:
    """Q = e^{γt} X(θ)·θ̇/η and its source dQ/dt = e^{γt} θ̇ᵀAθ̇/η (from :mod:`.lagrangian`)."""
    dots = [sp.Symbol(f"{s}_dot", real=True) for s in syms]
    X = {}
    for (r, s), v in g.A.items():
        X[r] = X.get(r, 0) + v * syms[s]
    for r, v in g.c.items():
        X[r] = X.get(r, 0) + v
    q = sp.exp(gamma * t) * sp.expand(sum(x * dots[r] for r, x in X.items())) / eta
    src = sp.expand(sum(v * dots[r] * dots[s] for (r, s), v in g.A.items()))
    return {"expr": q, "source": sp.exp(gamma * t) * src / eta if src != 0 else sp.Integer(0)}


def choose_method(model, method: str = "auto") -> Method:
    """The method ``derive`` uses.  "auto": the per-interface method where it applies (MLPs with
    MSE); else the exact global search for models of at most MAX_GLOBAL_D parameters with a layer
    eps > 0 (eps leaves near-symmetries whose singular values sit at the eps level, where a sampled
    float null space has no clear gap, while exact elimination separates them); else the
    structured search, certified exactly modulo a prime."""
    if method == "auto":
        if METHODS["interface"].applies(model) is None:
            return METHODS["interface"]
        if has_eps(model) and model.D <= MAX_GLOBAL_D:
            return METHODS["global"]
        return METHODS["structured"]
    if method not in METHODS:
        raise SpecError("method", f"unknown method {method!r}; accepted: auto, " + ", ".join(METHODS))
    why = METHODS[method].applies(model)
    if why:
        raise SpecError("method", why)
    return METHODS[method]


def derive(model, seed: int = 0, method: str = "auto") -> Derivation:
    """Run the derivation stage for ``model`` (see module docstring) with the method
    :func:`choose_method` picks: "auto", or one of :data:`METHODS` by name to force it."""
    f = choose_method(model, method).form(model, seed)
    return Derivation(model, f.algebra, f.charge_families, f.charges, seed, f.notes, f.extra)
