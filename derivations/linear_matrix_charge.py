"""Zhao et al. (2023) / Marcotte et al. (2023): the matrix charge of linear networks.

Reproduces: for a linear network W2 (W1 x + b1) + b2 the symmetric matrix
W1 W1ᵀ + b1 b1ᵀ − W2ᵀ W2 is conserved entrywise under gradient flow (h(h+1)/2 charges, from the
symmetric part of gl(h)); the antisymmetric part (rotations) gives Noether charges of the
Bregman flow with zero source.
Run:  python derivations/linear_matrix_charge.py
"""

import sympy as sp

import noether

h = 4
model = noether.Model(3, [noether.Linear(h), noether.Linear(2)], name="linear_3_4_2")
d = noether.derive(model)
print(model.describe())
print(f"algebra: dim {d.dim} (gl({h}) plus {h} bias translations), orbit rank {d.orbit_rank}")
print(f"charges: {d.n_charges}, functionally independent: {d.n_independent_charges}")

S = lambda n: sp.Symbol(n, real=True)  # noqa: E731
W1 = sp.Matrix(h, 3, lambda i, k: S(f"W1_{i}_{k}"))
b1 = sp.Matrix(h, 1, lambda i, _: S(f"b1_{i}"))
W2 = sp.Matrix(2, h, lambda k, i: S(f"W2_{k}_{i}"))
Q = W1 * W1.T + b1 * b1.T - W2.T * W2
exprs = [c.expr for c in d.charges]
ok = all(any(sp.expand(e - Q[i, j]) == 0 for e in exprs) for i in range(h) for j in range(i, h))
print(f"every entry of W1 W1^T + b1 b1^T - W2^T W2 derived: {ok}")
# the rotations are the combinations of the derived generators whose A is antisymmetric (so(h)
# acting on the hidden units); their Bregman / heavy-ball Noether charges have zero source
rot = d.rotations
expected = h * (h - 1) // 2
rot_ok = len(rot) == expected and all(g.is_antisymmetric() for g in rot)
print(f"rotation generators (antisymmetric, Bregman source 0): {len(rot)} (so({h}) has {expected})")

rep = noether.verify(model, noether.VerifyOptions(lr=0.05, steps=2000, seed=0))
print(rep.table())
done = ok and rot_ok and rep.ok
print("reproduced" if done else "NOT reproduced")
raise SystemExit(0 if done else 1)
