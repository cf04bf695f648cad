"""Experiment 1 (Zhao, Dehmamy, Walters & Yu, NeurIPS 2022, at CPU scale): a 3-layer leaky-ReLU MLP
on scikit-learn's digits, full-batch GD with and without grad_norm_max teleports in the first steps,
5 seeds; loss against steps and against wall time (plot teleport_digits.png).

Reproduced when every teleport kept the loss to float64 rounding and raised ‖∇L‖, and every GD law
held between teleports; the speed-up (or a divergence: a steeper point can be too steep for the
learning rate) is printed, not asserted.  Arguments: teleport step sizes (default 0.01 0.1)."""

import dataclasses
import sys

import numpy as np

import noether
from noether.optim import make_rule

SEEDS, STEPS, LR, AT = range(5), 300, 0.05, (0, 5, 10)
#: largest move per teleport ascent step in Lie-algebra coordinates (``--teleport-lr``)
TELEPORT_LR = tuple(float(a) for a in sys.argv[1:]) or (0.01, 0.1)
SPEC = {"input": 64, "loss": "cross_entropy", "layer": [
    {"type": "linear", "out": 16}, {"type": "activation", "fn": "leaky_relu"},
    {"type": "linear", "out": 16}, {"type": "activation", "fn": "leaky_relu"},
    {"type": "linear", "out": 10}]}


def main() -> int:
    model = noether.Model.from_dict(SPEC)
    base = noether.prepare(model, dataset="digits")
    rule = make_rule("gd", lr=LR)
    configs = [("GD", {}, None)] + [(f"GD + teleport (step {a:g})", {k: "teleport" for k in AT}, a) for a in TELEPORT_LR]
    curves, ok = {c[0]: [] for c in configs}, True
    for seed in SEEDS:
        s = dataclasses.replace(base, theta=model.init(np.random.default_rng([seed, 2])))
        for label, iv, alpha in configs:
            r = noether.train(s, rule, STEPS, iv, "grad_norm_max", teleport_steps=10, seed=seed,
                              teleport_step_size=alpha or 0.1)
            # the laws and the teleports are what is checked; a divergence is a result, reported
            ok &= (r.law_max_residual <= 1e-10 and all(t["ok"] for t in r.teleports)
                   and all(t["objective_after"] >= t["objective_before"] for t in r.teleports))
            L = np.full(STEPS, np.nan)
            L[:len(r.losses)] = r.losses
            curves[label].append((L, r.times, r.teleports, r.diverged_at))
    print(f"digits, {model.D} parameters, GD lr={LR}, {STEPS} steps, teleports before steps {AT} "
          f"(10 ascent steps each), seeds {list(SEEDS)}")
    for label, runs in curves.items():
        L = np.array([c[0] for c in runs])
        T = np.array([c[1][-1] if len(c[1]) else np.nan for c in runs])
        div = [c[3] for c in runs if c[3] is not None]
        print(f"  {label:26s} loss at step 20 {np.nanmean(L[:, 20]):.4f}  step 100 {np.nanmean(L[:, 100]):.4f}  "
              f"final {np.nanmean(L[:, -1]):.4f} (± {np.nanstd(L[:, -1]):.4f})   seconds {np.nanmean(T):.3f}"
              + (f"   diverged: {len(div)} of {len(runs)} (steps {div})" if div else ""))
        tel = [t for c in runs for t in c[2]]
        if tel:
            rel = max(abs(t["loss_after"] - t["loss_before"]) / t["loss_before"] for t in tel)
            gain = np.mean([t["objective_after"] / t["objective_before"] for t in tel])
            print(f"  {'':26s} teleports: {len(tel)}, max |ΔL|/L {rel:.1e}, mean ‖∇L‖ gain x{gain:.2f}")
    _plot(curves)
    print("reproduced" if ok else "NOT reproduced")
    return 0 if ok else 1


def _plot(curves):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    for (label, runs), col in zip(curves.items(), ("C0", "C3", "C2", "C1")):
        for i, (L, T, _, _) in enumerate(runs):
            L = L[:len(T)]
            ax[0].plot(L, color=col, alpha=0.6, label=label if i == 0 else None)
            ax[1].plot(T, L, color=col, alpha=0.6, label=label if i == 0 else None)
    for a, x in zip(ax, ("GD step", "seconds")):
        a.set_xlabel(x), a.set_ylabel("loss"), a.set_yscale("log"), a.legend()
    fig.tight_layout()
    fig.savefig("teleport_digits.png", dpi=100)


if __name__ == "__main__":
    sys.exit(main())
