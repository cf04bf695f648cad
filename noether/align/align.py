"""``align``: permute (and, modulo the group, canonicalise) network B to match network A.

The permutation groups are the derived ones (:mod:`noether.derive.discrete`), so any layer type
whose axes declare them (MLP units, conv channels, attention heads and their d_k/d_v
coordinates, residual streams, GLU units) is aligned without a hand-written spec.  The aligned
B computes the same function as B: ``max_output_change`` measures it on the data and must be at
rounding level (an error otherwise)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import SpecError
from .barrier import interpolate
from .perms import PermSet
from ..derive.discrete import axis_sites, derive_discrete
from ..model import Model
from ..derive import derive
from .canonical import Quotient, canonicalise, continuous_quotient
from .activation import activation_matching
from .weight import weight_matching

METHODS = ("weight", "activation")
MODULI = ("permutation", "group")
#: |f_B − f_{B aligned}| / max|f_B| allowed: permutations reorder float64 sums (≲ 1e-15
#: relative); the rescaling is exp(t) to ~1e-16 relative per parameter through ≤ ~10 layers.
OUTPUT_TOL = 1e-9


@dataclass
class AlignResult:
    theta: np.ndarray                 # B aligned
    theta_a: np.ndarray               # A (canonicalised with modulo="group")
    perms: PermSet
    info: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"permutations": self.perms.to_json(), **self.info}


def permutation_groups(model, seed: int = 0):
    amap = axis_sites(model)
    groups = [g for g in derive_discrete(model, seed) if g.kind == "permutation" and g.units is None]
    return amap, groups


def function_model(model):
    """The same network under the MSE loss: its derived symmetries are those of the function f
    itself (alignment must keep f; a loss may have more, e.g. softmax's output translations), and
    MLPs then take the per-interface method, which scales to any width."""
    return model if model.loss_name == "mse" else Model.from_dict({**model.to_dict(), "loss": "mse"}, model.name)


def align(model, theta_a, theta_b, X=None, Y=None, method: str = "weight", modulo: str = "permutation",
          seed: int = 0, restarts: int = 1, points: int = 25, groups=None, diagonal=None) -> AlignResult:
    """Align B to A; with data (X, Y) also the barrier before and after (``points`` α values).
    ``groups`` ((AxisMap, permutation groups) of :func:`permutation_groups`) and ``diagonal``
    (:func:`.canonical.continuous_quotient`, or :func:`.canonical.diagonal_group` for the
    rescalings alone) may be passed to reuse one derivation over many pairs."""
    if method not in METHODS:
        raise SpecError("--method", f"unknown {method!r}; accepted: " + ", ".join(METHODS))
    if modulo not in MODULI:
        raise SpecError("--modulo", f"unknown {modulo!r}; accepted: " + ", ".join(MODULI))
    if method == "activation" and X is None:
        raise SpecError("--data", "activation matching needs data (X, Y)")
    t0 = time.perf_counter()
    theta_a, theta_b = np.asarray(theta_a, dtype=float), np.asarray(theta_b, dtype=float)
    amap, groups = groups if groups is not None else permutation_groups(model, seed)
    info: dict = {"method": method, "modulo": modulo}
    A, B = theta_a, theta_b
    if modulo == "group":
        grp = diagonal if diagonal is not None else \
            continuous_quotient(model, derive(function_model(model), seed), amap, groups)
        A, ia = canonicalise(grp, theta_a)
        B, ib = canonicalise(grp, theta_b)
        gl = grp.gl if isinstance(grp, Quotient) else None
        info["group"] = {"algebra_dim": grp.dim_algebra, "quotiented_dim": grp.k,
                         "not_quotiented_dim": (grp.dim_algebra - grp.k) if grp.dim_algebra is not None else None,
                         "gl_blocks": [a.to_json() for a in gl.axes] if gl else [],
                         "canonical_A": ia, "canonical_B": ib,
                         "note": "quotiented: the diagonal (rescaling) subgroup by its minimum-norm point"
                                 + ("" if gl is None else ", GL(n) of each linear block by its balanced "
                                    "SVD factorisation, the translations by projecting them out, and the affine "
                                    "shifts by the minimum-norm point of their orbit")
                                 + "; other generators are not"
                                 + "".join("; " + n for n in (gl.notes if gl else []))}
    ps = PermSet.identity(model, amap.shapes, groups)
    rng = np.random.default_rng([seed, 17])
    t1 = time.perf_counter()
    if method == "activation":
        ps, hidden = activation_matching(ps, amap, A, B, X)
        info["weight_matched_groups"] = [groups[k].axis.name for k in hidden]
        if hidden:
            ps, wi = weight_matching(ps, A, B, rng, restarts, only=hidden)
            info["search"] = wi
    else:
        ps, wi = weight_matching(ps, A, B, rng, restarts)
        info["search"] = wi
    info["matching_seconds"] = time.perf_counter() - t1
    aligned = ps.apply(B)
    Xc = X if X is not None else np.random.default_rng([seed, 18]).standard_normal((64, model.input))
    FB, FA = model.forward(theta_b, Xc), model.forward(aligned, Xc)
    change = float(np.abs(FA - FB).max() / max(float(np.abs(FB).max()), 1e-300))
    info["max_output_change"] = change
    info["output_check_data"] = "--data" if X is not None else "64 seeded N(0,1) inputs"
    if not change <= OUTPUT_TOL:
        raise RuntimeError(f"the aligned network computes a different function (relative change {change:.2e} > "
                           f"{OUTPUT_TOL:g}): a derived symmetry is wrong")
    info["distance_before"] = float(np.linalg.norm(A - B))
    info["distance_after"] = float(np.linalg.norm(A - aligned))
    if X is not None:
        info["barrier_before"] = interpolate(model, A, B, X, Y, points).barrier
        info["barrier_after"] = interpolate(model, A, aligned, X, Y, points).barrier
    else:
        info["barrier_before"] = info["barrier_after"] = None
    info["seconds"] = time.perf_counter() - t0
    return AlignResult(aligned, A, ps, info)
