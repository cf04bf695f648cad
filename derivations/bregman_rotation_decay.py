"""The e^{−γt} decay of the Bregman-Lagrangian Noether charge of a rotation (docs/theory.md §6; Wibisono,
Wilson & Jordan 2016 for the Lagrangian, Kunin et al. 2021 / Tanaka & Kunin 2021 for the charge).

For a linear net, the engine's gl(h) generators contain rotations (antisymmetric A, c = 0, found
here as the null space of their symmetric parts).  Under heavy ball its Noether momentum
P_k = X(θ_k)·v_k obeys the derived law P_{k+1} = β P_k exactly; the Bregman flow with
γ = 2(1−β)/(η(1+β)) predicts the per-step factor e^{−γη}.  For each β the run (started with a
non-zero velocity, so that P_0 ≠ 0) gives the exact per-step factor, a rate FITTED by least squares
on log|P_k|, and the prediction's rate error |ln pred − ln fitted|/|ln fitted|, which must shrink
as β → 1 (the continuous limit).   Run:  python derivations/bregman_rotation_decay.py
"""

import numpy as np

import noether
from noether import generator_sparse, rotation_combinations
from noether.derive import bregman_gamma, derive_state_law
from noether.kernels import build_kernels
from noether.optim import make_rule
from noether.run import initial_parameters, random_data, run_optimizer

model = noether.Model(3, [noether.Linear(4), noether.Linear(2)], name="linear_3_4_2")
d = noether.derive(model)
kern = build_kernels(d)
rots = rotation_combinations(generator_sparse(kern.generators, model.D), model.D)
law = derive_state_law(make_rule("momentum"))
print(f"{len(d.algebra.generators)} generators, {len(rots)} independent rotations (so(4) has 6)")
print(f"derived state law: {law.pretty()}")
X, Y = random_data(model, 32, 0)
th0 = initial_parameters(model, 0)
v0 = np.random.default_rng([0, 9]).standard_normal(model.D)
A = rots[0]
eta, steps, ok, errs = 0.01, 60, len(rots) == 6, []
print(f"\n{'beta':>6} {'exact':>10} {'fitted':>12} {'Bregman':>10} {'rate err':>9} {'law resid':>9}")
for b in [0.5, 0.7, 0.8, 0.9, 0.95, 0.98]:
    rule = make_rule("momentum", lr=eta, momentum=b)
    r = run_optimizer(kern, rule, th0, X, Y, steps, state0=v0[None, :])
    done, th, S = r.completed, r.theta, r.state
    P = np.einsum("kd,kd->k", S[:, 0], (A @ th.T).T)
    Pa = np.einsum("kd,kd->k", np.abs(S[:, 0]), (abs(A) @ np.abs(th).T).T)
    # exact law P_{k+1} = beta P_k (for k >= 1; at k = 0 PyTorch skips dampening only, same law)
    resid = np.max(np.abs(P[1:] - b * P[:-1]) / (Pa[1:] + b * Pa[:-1]))
    k = np.arange(steps + 1)
    good = np.abs(P) > 1e6 * np.finfo(float).eps * Pa   # well above float64 rounding of its terms
    fitted = float(np.exp(np.polyfit(k[good], np.log(np.abs(P[good])), 1)[0]))
    pred = float(np.exp(-bregman_gamma(eta, b) * eta))
    err = abs(np.log(pred) - np.log(fitted)) / abs(np.log(fitted))
    errs.append(err)
    print(f"{b:6.2f} {b:10.6f} {fitted:12.9f} {pred:10.6f} {err:9.2e} {resid:9.1e}")
    # 1e-10: each step is an exact identity to ~1e-15 of its terms; the fit of an exact geometric
    # sequence recovers beta to ~1e-12
    ok &= done == steps and resid <= 1e-10 and abs(fitted - b) <= 1e-9
ok &= all(e2 < e1 for e1, e2 in zip(errs, errs[1:]))
print(f"\nrate error of the Bregman prediction falls monotonically as beta -> 1: {all(e2 < e1 for e1, e2 in zip(errs, errs[1:]))}"
      f" ({errs[0]:.2e} at beta=0.5, {errs[-1]:.2e} at beta=0.98)")
print("reproduced" if ok else "NOT reproduced")
raise SystemExit(0 if ok else 1)
