"""Finite learning rate: ReLU balancedness "diffuses between hyperbolas" (docs/theory.md §4; Du, Hu & Lee
2018 for the charge; Kunin et al. 2021 for the finite-η picture).

Reproduces, for each derived balancedness charge C_i = |w_in|² + b² − |w_out|² of a ReLU MLP:
  1. the exact per-step law C_{k+1} − C_k = η²/2·B(g_k, g_k), derived by sympy from the GD rule with
     the symmetry identity substituted, checked at every one of 10⁴ steps (≤ 1e-10 relative);
  2. the accumulated drift C_K − C_0 against Σ_k of the law's right-hand side, from plain numpy on
     the recorded θ_k, g_k and the charge matrices;
  3. its scaling with η at fixed time T = ηK: the drift is η/2·∫B(g,g)dt, so O(η) (fitted order ≈ 1).
Exits non-zero if any of these fails.   Run:  python derivations/finite_lr_hyperbolas.py
"""

import numpy as np

import noether
from noether import charge_matrices
from noether.derive import derive_law, fit_order
from noether.kernels import build_kernels
from noether.optim import make_rule
from noether.run import eval_law, initial_parameters, random_data, run_optimizer

model = noether.Model(3, [noether.Linear(4), noether.Activation("relu"), noether.Linear(2)], name="relu_3_4_2")
d = noether.derive(model)
kern = build_kernels(d)
A, c = charge_matrices(d)
law = derive_law(make_rule("gd"))
print(f"charges: {[str(ch.expr) for ch in d.charges]}")
print(f"derived GD law: {law.pretty()}    (identity used: {law.identity})")
X, Y = random_data(model, 32, 0)
th0 = initial_parameters(model, 0)
ok = True

# 1-2. 10⁴ steps: the per-step law in the kernel, and the accumulated drift rechecked in numpy
lr, K = 0.05, 10_000
run = run_optimizer(kern, make_rule("gd", lr=lr), th0, X, Y, K)
n = run.completed
first = np.zeros(n)
first[0] = 1
print(f"\n1. per-step law over {n} steps at eta={lr}: max relative residual {run.charge_resid.max():.2e}"
      " (tolerance 1e-10)")
ok &= n == K and run.charge_resid.max() <= 1e-10
print("2. accumulated drift C_K - C_0 vs sum_k eta^2/2 B(g_k, g_k):")
for q, name in enumerate(kern.layout.names):
    rhs, scale = eval_law(law.rhs, {"theta": run.theta[:n], "g": run.grad}, A[q], c[q], {"lr": lr}, first)
    drift = run.charges[-1, q] - run.charges[0, q]
    rel = abs(drift - rhs.sum()) / (scale.sum() + np.abs(run.charges[:, q]).max())
    print(f"   {name}: drift {drift:+.6e}   sum of law {rhs.sum():+.6e}   relative mismatch {rel:.1e}")
    # 1e-10: K per-step identities each exact to ~1e-15 of their scale; errors add at most K-fold
    ok &= rel <= 1e-10 and abs(drift) > 1e-6

# 3. fixed time T: the drift is O(eta)
T, lrs, drifts = 2.0, [0.04, 0.02, 0.01, 0.005], []
for eta in lrs:
    r = run_optimizer(kern, make_rule("gd", lr=eta), th0, X, Y, int(round(T / eta)))
    drifts.append(np.abs(r.charges[-1] - r.charges[0]).max())
order = fit_order(lrs, drifts)
print(f"\n3. max |C(T) - C(0)| at T={T}: " + "  ".join(f"eta={e:g}: {v:.3e}" for e, v in zip(lrs, drifts)))
print(f"   fitted order in eta: {order:.3f} (expected 1: the drift is eta/2 * int B(g,g) dt)")
ok &= abs(order - 1) < 0.15
print("reproduced" if ok else "NOT reproduced")
raise SystemExit(0 if ok else 1)
