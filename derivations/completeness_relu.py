"""ReLU networks: one conservation law per hidden neuron, and it is complete.

The law of neuron u is |w_in|² + b_u² − |w_out|² (Du, Hu, Lee 2018); Marcotte, Gribonval, Peyré
(NeurIPS 2023) prove there are no others.  We count D − dim Lie(V), confirm exactly over QQ for
tiny nets, print the quadratic laws found by the exact polynomial search, and show the local
laws of a random point with a dead unit.  Run: PYTHONPATH=. python derivations/completeness_relu.py
"""

import numpy as np

from noether.completeness import ExactNet, count_laws, exact_lie_rank, exact_point, polynomial_search as search
from noether.model import Activation, Linear, Model


def mlp(widths, bias=True):
    layers = []
    for i, w in enumerate(widths[1:]):
        layers.append(Linear(w, bias))
        if i < len(widths) - 2:
            layers.append(Activation("relu"))
    return Model(widths[0], layers)


ok = True
for widths, bias in (([3, 4, 2], True), ([3, 4, 2], False), ([2, 3, 3, 2], True), ([3, 5, 4, 2], True),
                     ([2, 4, 3, 3, 1], True)):
    m = mlp(widths, bias)
    r = count_laws(m, seed=0)
    H = sum(widths[1:-1])
    line = (f"relu {widths} bias={bias}: D = {m.D}, laws = {r.laws}, hidden neurons = {H}, "
            f"derived = {r.derived}, gap {r.gap:.1e}")
    ok &= r.laws == H and r.complete
    for p in r.local[:1]:
        line += f"\n    local point: {', '.join(u['name'] + ' ' + u['kind'] for u in p.pinned)} -> {p.extra_laws:+d} laws"
    print(line)
m = mlp([2, 3, 1])
en = ExactNet(m)
th, xs = exact_point(en, m, np.random.default_rng(1), 16)
er, pl = exact_lie_rank(en, th, xs), search(en, th, xs, 2)
print(f"exact relu [2, 3, 1]: laws = {er.laws}; quadratic laws:")
for p in pl.polynomials:
    print("    C =", p)
ok &= er.laws == pl.n_independent == 3
print("verified: one law per neuron, complete" if ok else "FAILED")
raise SystemExit(0 if ok else 1)
