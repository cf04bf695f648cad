"""The GL(d_k) symmetry of self-attention, found by the exact global search and verified.

Scores Q Kᵀ are unchanged by W_Q → G W_Q, W_K → G^{-T} W_K (and the biases alike), so gradient
flow conserves the symmetric d_k × d_k matrix W_Q W_Qᵀ + b_Q b_Qᵀ − W_K W_Kᵀ − b_K b_Kᵀ, the
attention analogue of balancedness (e.g. Zhao et al. 2023, "Symmetries, flat minima and the
conserved quantities of gradient flow").  Nothing in noether's source states this: the search
solves ∇L·X = 0 from the layer's sympy definition.  The script compares the found generators
and charges with the statement above, cross-checks the algebra numerically, and runs verify.

    PYTHONPATH=. python derivations/attention_gl_dk.py
"""

import numpy as np
import sympy as sp

from noether import VerifyOptions, verify
from noether.derive import Generator, Span, cross_check, derive, global_exact
from noether.model import Attention, Model

DK = 2


def gl_generator(m, M):
    """The literature field X_M = (M W_Q, M b_Q, −Mᵀ W_K, −Mᵀ b_K) as a Generator."""
    g = Generator("X_M", "literature")
    for a in range(DK):
        for b in range(DK):
            for j in range(m.layers[0].n):
                g.add(m.index(f"WQ1_0_{a}_{j}"), m.index(f"WQ1_0_{b}_{j}"), sp.Integer(M[a, b]))
                g.add(m.index(f"WK1_0_{a}_{j}"), m.index(f"WK1_0_{b}_{j}"), -sp.Integer(M[b, a]))
            g.add(m.index(f"bQ1_0_{a}"), m.index(f"bQ1_0_{b}"), sp.Integer(M[a, b]))
            g.add(m.index(f"bK1_0_{a}"), m.index(f"bK1_0_{b}"), -sp.Integer(M[b, a]))
    return g


def main():
    m = Model(2, [Attention(d_k=DK, d_v=1, out=1)], seq=2, name="attention_T2")
    print(m.describe())
    res = global_exact(m)
    print(f"exact search: dim {res.dim}, orbit rank {res.orbit_rank}, "
          f"{res.n_independent_charges} independent charges ({res.backend})")
    span = Span(m.D)
    for g in res.generators:
        span.add(g)
    ok = True
    for a in range(DK):
        for b in range(DK):
            M = np.zeros((DK, DK), dtype=int)
            M[a, b] = 1
            inside = not span.add(gl_generator(m, M))
            print(f"  X_M for M = E_{a}{b} in the found algebra: {inside}")
            ok &= inside
    for e, _ in res.charges:
        print(f"  charge: {e}")
    chk = cross_check(m, res)
    print(f"numeric cross-check: dim {chk['dim']}, singular-value gap {chk['gap'][0]:.1e} | {chk['gap'][1]:.1e}")
    d = derive(m)
    rep = verify(m, VerifyOptions(steps=300), progress=lambda *_: None, deriv=d)
    worst = max(c.max_residual / c.tolerance for c in rep.checks)
    flat = sum(c.law.startswith("Q = 0 to rounding") for c in rep.checks)
    print(f"verify: {sum(c.ok for c in rep.checks)}/{len(rep.checks)} checks pass (worst residual / "
          f"tolerance = {worst:.1e}; {flat} Bregman charges of fields along the flat b_K are 0 to rounding)")
    ok &= all(c.ok for c in rep.checks)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
