"""Du, Hu & Lee (2018): per-neuron balancedness of ReLU networks, derived and verified.

Reproduces: for every hidden ReLU unit i, |W1[i,:]|² + b1[i]² − |W2[:,i]|² is conserved under
gradient flow, and under GD it moves by exactly η²·Q(g) per step (docs/theory.md §4).
Run:  python derivations/relu_balancedness.py
"""

import sympy as sp

import noether

model = noether.Model(3, [noether.Linear(5), noether.Activation("relu"), noether.Linear(2)], name="relu_3_5_2")
d = noether.derive(model)
print(model.describe())
print(f"algebra: dim {d.dim}, orbit rank {d.orbit_rank}")
for cf in d.charge_families:
    print(f"charge family {cf.name}: {cf.indexed(cf.terms[0][1].itf)}   ({cf.count} charges)")

# the literature form, written here only to compare with what the engine derived
S = lambda n: sp.Symbol(n, real=True)  # noqa: E731
ok = True
for i in range(5):
    want = sum(S(f"W1_{i}_{k}") ** 2 for k in range(3)) + S(f"b1_{i}") ** 2 - sum(S(f"W2_{k}_{i}") ** 2 for k in range(2))
    found = any(sp.expand(c.expr - want) == 0 for c in d.charges)
    ok &= found
    print(f"  unit {i}: Du-Hu-Lee balancedness {'derived' if found else 'NOT derived'}")
print(f"GD law: {d.law('gd').pretty()}")

rep = noether.verify(model, noether.VerifyOptions(lr=0.05, steps=2000, seed=0))
print(rep.table())
print("reproduced" if ok and rep.ok else "NOT reproduced")
raise SystemExit(0 if ok and rep.ok else 1)
