"""An activation in no catalogue: σ(z) = z² for z > 0, −z²/4 otherwise.

σ is positively homogeneous of degree 2 (σ(sz) = s²σ(z) for s > 0) but neither even nor odd.
The engine is given only the expression.  It must find one rescaling per hidden unit with
P = 2M, the charge |w_in|² + b² − 2|w_out|² (Zhao et al. 2023, degree-α form), no sign flip, and
verify the charge against gradient flow, GD and the Bregman flow.
Run:  python derivations/custom_activation.py
"""

import sympy as sp

import noether

model = noether.Model(2, [noether.Linear(3), noether.Activation("Piecewise((z**2, z > 0), (-z**2/4, True))"),
                          noether.Linear(2)], name="custom_piecewise_quadratic")
d = noether.derive(model)
itf = d.algebra.interfaces[0]
print(model.describe())
print(f"sigma = {itf.sigma}; solution of eq. 2: unit vectors (m, c, p, d~) = {itf.sol.unit}, "
      f"pairs = {itf.sol.pair}, method {itf.sol.method}")
print(f"discrete symmetries: {[s['kind'] for s in d.discrete]}")
for cf in d.charge_families:
    print(f"charge family {cf.name}: {cf.indexed(itf)}")

S = lambda n: sp.Symbol(n, real=True)  # noqa: E731
want = S("W1_0_0") ** 2 + S("W1_0_1") ** 2 + S("b1_0") ** 2 - 2 * (S("W2_0_0") ** 2 + S("W2_1_0") ** 2)
ok = any(sp.expand(c.expr - want) == 0 for c in d.charges) and "flip" not in [s["kind"] for s in d.discrete]
print(f"degree-2 form |w_in|^2 + b^2 - 2|w_out|^2 derived: {ok}")

rep = noether.verify(model, noether.VerifyOptions(lr=0.02, steps=2000, seed=0))
print(rep.table())
print("reproduced" if ok and rep.ok else "NOT reproduced")
raise SystemExit(0 if ok and rep.ok else 1)
