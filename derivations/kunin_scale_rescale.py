"""Kunin et al. (2021, "Neural Mechanics"): scale and rescale dynamics under weight decay and momentum.

Scale: the weights into a normalisation (here rmsnorm) satisfy
    |θ|²(t) = e^{−2λt}|θ₀|² + η∫e^{−2λ(t−s)}|g|²ds        (first-order closed form)
Rescale: ReLU balancedness |w_in|² + b² − |w_out|², the difference of two such terms.
With heavy-ball momentum β the modified flow m θ̈ + (1−β) θ̇ = −∇L − λθ (m = η(1+β)/2, t = ηk) gives
the damped-oscillator kernels.  Both forms are derived per charge by noether.derive.continuous and
compared with discrete runs at fixed time T over a learning-rate sweep; the error's order in η is
fitted.  Reproduced when every closed form's error shrinks at least linearly in η (fitted order ≥ 0.8)
and the exact per-step laws hold (≤ 1e-10).   Run:  python derivations/kunin_scale_rescale.py
"""

import noether
from noether.derive import fit_order, prediction_errors
from noether.kernels import build_kernels
from noether.model import Linear, RMSNorm
from noether.optim import make_rule
from noether.run import initial_parameters, random_data, run_optimizer

MODELS = {
    "scale (weights into rmsnorm)": noether.Model(2, [Linear(3, bias=False), RMSNorm(eps=0.0), Linear(2)],
                                                  name="rms_2_3_2"),
    "rescale (ReLU balancedness)": noether.Model(3, [Linear(4), noether.Activation("relu"), Linear(2)],
                                                 name="relu_3_4_2"),
}
RULES = {"GD + weight decay": ("gd", dict(weight_decay=0.1)),
         "heavy ball + weight decay": ("momentum", dict(momentum=0.9, weight_decay=0.1))}
LRS, T, SEED = [0.04, 0.02, 0.01, 0.005], 1.0, 0
ok = True
for mname, model in MODELS.items():
    d = noether.derive(model)
    kern = build_kernels(d)
    names = kern.layout.names
    X, Y = random_data(model, 32, SEED)
    th0 = initial_parameters(model, SEED)
    print(f"\n{mname}: {[str(c.expr) for c in d.charges]}")
    for rname, (opt, kw) in RULES.items():
        err2, err1, law = [], [], 0.0
        for eta in LRS:
            rule = make_rule(opt, lr=eta, **kw)
            run = run_optimizer(kern, rule, th0, X, Y, int(round(T / eta)))
            law = max(law, float(run.charge_resid.max()))
            preds = prediction_errors(kern, rule, run, names)
            err2.append(max(p.error for p in preds))
            err1.append(max(p.error_first_order for p in preds))
        o2, o1 = fit_order(LRS, err2), fit_order(LRS, err1)
        print(f"  {rname} ({preds[0].kind}, {preds[0].regime} kernel), T={T}; exact-law residual {law:.1e}")
        print("    eta            " + "  ".join(f"{e:9g}" for e in LRS))
        print("    modified flow  " + "  ".join(f"{e:9.2e}" for e in err2) + f"   fitted order {o2:.2f}")
        print("    first order    " + "  ".join(f"{e:9.2e}" for e in err1) + f"   fitted order {o1:.2f}")
        ok &= law <= 1e-10 and o1 >= 0.8 and o2 >= 0.8
print("\nreproduced" if ok else "\nNOT reproduced")
raise SystemExit(0 if ok else 1)
