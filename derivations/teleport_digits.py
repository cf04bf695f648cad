"""Experiment 1 (Zhao, Dehmamy, Walters & Yu, NeurIPS 2022, at CPU scale): a 3-layer leaky-ReLU MLP
on scikit-learn's digits, full-batch GD with and without grad_norm_max teleports in the first steps,
5 seeds; loss against steps and against wall time (plot teleport_digits.png).

Reproduced when every teleport kept the loss to float64 rounding and raised ‖∇L‖, and every GD law
held between teleports; the speed-up is printed, not asserted."""

import dataclasses
import sys

import numpy as np

import noether
from noether.optim import make_rule

SEEDS, STEPS, LR, AT = range(5), 300, 0.05, (0, 5, 10)
SPEC = {"input": 64, "loss": "cross_entropy", "layer": [
    {"type": "linear", "out": 16}, {"type": "activation", "fn": "leaky_relu"},
    {"type": "linear", "out": 16}, {"type": "activation", "fn": "leaky_relu"},
    {"type": "linear", "out": 10}]}


def main() -> int:
    model = noether.Model.from_dict(SPEC)
    base = noether.prepare(model, dataset="digits")
    rule = make_rule("gd", lr=LR)
    curves, ok = {"GD": [], "GD + teleport": []}, True
    for seed in SEEDS:
        s = dataclasses.replace(base, theta=model.init(np.random.default_rng([seed, 2])))
        for label, iv in (("GD", {}), ("GD + teleport", {k: "teleport" for k in AT})):
            r = noether.train(s, rule, STEPS, iv, "grad_norm_max", teleport_steps=10, seed=seed)
            ok &= r.ok and all(t["objective_after"] >= t["objective_before"] for t in r.teleports)
            curves[label].append((r.losses, r.times, r.teleports))
    print(f"digits, {model.D} parameters, GD lr={LR}, {STEPS} steps, teleports before steps {AT}, seeds {list(SEEDS)}")
    for label, runs in curves.items():
        L = np.array([c[0] for c in runs])
        T = np.array([c[1][-1] for c in runs])
        print(f"  {label:14s} loss at step 20 {L[:, 20].mean():.4f}  step 100 {L[:, 100].mean():.4f}  "
              f"final {L[:, -1].mean():.4f} (± {L[:, -1].std():.4f})   seconds {T.mean():.3f}")
    tel = [t for c in curves["GD + teleport"] for t in c[2]]
    rel = max(abs(t["loss_after"] - t["loss_before"]) / t["loss_before"] for t in tel)
    gain = np.mean([t["objective_after"] / t["objective_before"] for t in tel])
    print(f"  teleports: {len(tel)}, max |ΔL|/L {rel:.1e}, mean ‖∇L‖ gain x{gain:.2f}")
    _plot(curves)
    print("reproduced" if ok else "NOT reproduced")
    return 0 if ok else 1


def _plot(curves):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    for (label, runs), col in zip(curves.items(), ("C0", "C3")):
        for i, (L, T, _) in enumerate(runs):
            ax[0].plot(L, color=col, alpha=0.6, label=label if i == 0 else None)
            ax[1].plot(T, L, color=col, alpha=0.6, label=label if i == 0 else None)
    for a, x in zip(ax, ("GD step", "seconds")):
        a.set_xlabel(x), a.set_ylabel("loss"), a.set_yscale("log"), a.legend()
    fig.tight_layout()
    fig.savefig("teleport_digits.png", dpi=100)


if __name__ == "__main__":
    sys.exit(main())
