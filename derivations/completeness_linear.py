"""Linear networks: the charges derived from GL symmetries are complete.

Counts all gradient-flow laws as D − dim Lie(V) (Marcotte, Gribonval, Peyré, NeurIPS 2023)
numerically and, for the tiny ones, exactly over QQ; finds the conserved polynomials of degree
≤ 2 exactly (W_l W_lᵀ − W_{l+1}ᵀ W_{l+1}, one symmetric h×h matrix per hidden layer) and checks
that their functional rank equals the count.  Run: PYTHONPATH=. python derivations/completeness_linear.py
"""

import numpy as np

from noether.completeness import ExactNet, count_laws, exact_lie_rank, exact_point, polynomial_search as search
from noether.model import Linear, Model

ok = True
for widths in ([3, 2, 3], [4, 3, 5], [3, 2, 2, 3], [2, 3, 3, 2], [4, 2, 3, 2, 4]):
    m = Model(widths[0], [Linear(w, bias=False) for w in widths[1:]])
    r = count_laws(m, seed=0)
    line = (f"linear {widths}: D = {m.D}, dim Lie = {r.lie_dim}, laws = {r.laws} (gap {r.gap:.1e}), "
            f"derived = {r.derived} [{r.derived_source.split(';')[0]}]")
    if m.D <= 21:
        en = ExactNet(m)
        th, xs = exact_point(en, m, np.random.default_rng(0), 12)
        er = exact_lie_rank(en, th, xs)
        pl = search(en, th, xs, 2)
        line += f"; exact laws = {er.laws}; quadratic conserved polynomials: {pl.n_independent} independent"
        ok &= er.laws == r.laws == pl.n_independent
    ok &= r.complete
    print(line, "-> complete" if r.complete else "-> NOT complete")
    if widths == [3, 2, 3]:
        for p in pl.polynomials:
            print("    C =", p)
print("verified: GL charges are complete" if ok else "FAILED")
raise SystemExit(0 if ok else 1)
