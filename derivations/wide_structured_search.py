"""Symmetries of layers at widths the exact global search cannot reach (the structured search).

Two results, each past the 64 parameters of the exact global search, so `derive` takes the
structured route: families solved on reduced widths (orbit-basis patterns, exact certificate
modulo a prime), lifted to the real widths and checked there.

1. Radial activation σ(z) = z/‖z‖² at width h = 24 (Zhao et al. 2023, "Symmetries, flat minima
   and the conserved quantities of gradient flow", radial rescaling): so(h) plus one global
   scaling, dim = h(h−1)/2 + 1; only the scaling is a gradient field, and its charge is
   ‖W1‖² + ‖W2‖² (σ(cz) = σ(z)/c, so W1 and W2 scale together).
2. LayerNorm (eps = 0) after a linear layer of width 12: rotations of the centred hyperplane
   1^⊥ (so(h−1)), found as 3-mark "triangle" families E_kl − E_lk + E_lm − E_ml + E_mk − E_km
   whose coefficients do not depend on the width, next to the scale and the shifts; the
   structured and the exact global search agree at width 6 (tests/test_layerwise.py).

Both are then verified by the kernels (GF, GD law, Bregman law).

    PYTHONPATH=. python derivations/wide_structured_search.py
"""

import time

import sympy as sp

from noether import VerifyOptions, verify
from noether.derive import derive
from noether.model import LayerNorm, Linear, Model, Radial

H = 24


def radial():
    m = Model(2, [Linear(H, bias=False), Radial("1/r**2"), Linear(1, bias=False)], name="radial_wide")
    t = time.perf_counter()
    d = derive(m)
    print(f"{m.describe()}\n  derived in {time.perf_counter() - t:.1f} s by the {d.extra['search']['method']}")
    print(f"  dim {d.dim} (h(h-1)/2 + 1 = {H * (H - 1) // 2 + 1}), orbit rank {d.orbit_rank}, "
          f"{len(d.charges)} charge(s)")
    want = sp.expand(sum(s**2 for s in m.symbols))
    got = [sp.expand(c.expr) for c in d.charges]
    ok = d.dim == H * (H - 1) // 2 + 1 and len(got) == 1 and sp.simplify(got[0] / want).is_number
    print(f"  charge {str(got[0])[:90] + ' ...' if got else None}  (a multiple of ‖W1‖² + ‖W2‖²: {ok})")
    return m, ok


def layernorm():
    m = Model(2, [Linear(12), LayerNorm(eps=0.0), Linear(1)], name="layernorm_wide")
    t = time.perf_counter()
    d = derive(m, method="structured")
    print(f"{m.describe()}\n  derived in {time.perf_counter() - t:.1f} s by the {d.extra['search']['method']}")
    fams = d.extra["search"]["structured"]["families"]
    tri = [f for f in fams if f["name"].endswith("out:3]")]
    for f in fams:
        print(f"  family {f['name']}: {f['count']} vector(s) per choice of marks")
    print(f"  dim {d.dim}, orbit rank {d.orbit_rank}, {d.n_independent_charges} independent charges")
    return m, bool(tri)


def main():
    ok = True
    for build in (radial, layernorm):
        m, found = build()
        rep = verify(m, VerifyOptions(steps=300))
        print(f"  verify: {'all laws hold' if rep.ok else 'FAILED'} ({len(rep.checks)} checks)\n")
        ok &= found and rep.ok and len(rep.checks) > 0
    print("reproduced" if ok else "NOT reproduced")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
