"""Experiment 3: teleporting with momentum.  Heavy ball on a 3-layer leaky-ReLU MLP on digits,
teleported (grad_norm_max) before steps 0, 10, 20: the velocity transported with the parameters
(by the inverse transpose of the element's linear part) against a velocity reset to zero after each
teleport (what rebuilding the optimizer does).  Plot teleport_momentum.png.

Reproduced when every teleport kept the loss and every heavy-ball law held between teleports."""

import dataclasses
import sys

import numpy as np

import noether
from noether.optim import make_rule
from noether.run import run_optimizer

SEEDS, STEPS, LR, BETA, AT = range(3), 200, 0.02, 0.9, (0, 10, 20)
SPEC = {"input": 64, "loss": "cross_entropy", "layer": [
    {"type": "linear", "out": 16}, {"type": "activation", "fn": "leaky_relu"},
    {"type": "linear", "out": 16}, {"type": "activation", "fn": "leaky_relu"},
    {"type": "linear", "out": 10}]}


def reset_run(s, rule, seed):
    """Heavy ball whose velocity is dropped at each teleport."""
    theta, losses, ok = s.theta, [], True
    for a, b in zip(AT, AT[1:] + (STEPS,)):
        r = noether.teleport(s.kernels, s.action, theta, s.X, s.Y, "grad_norm_max", 10, seed)
        ok &= r.ok
        run = run_optimizer(s.kernels, rule, r.theta, s.X, s.Y, b - a)
        ok &= float(run.charge_resid.max(initial=0.0)) <= 1e-10
        losses += run.losses.tolist()
        theta = run.theta[-1]
    return np.array(losses), ok


def main() -> int:
    model = noether.Model.from_dict(SPEC)
    base = noether.prepare(model, dataset="digits")
    rule = make_rule("momentum", lr=LR, momentum=BETA)
    res, ok = {"transported": [], "reset": [], "no teleport": []}, True
    for seed in SEEDS:
        s = dataclasses.replace(base, theta=model.init(np.random.default_rng([seed, 2])))
        r = noether.train(s, rule, STEPS, {k: "teleport" for k in AT}, "grad_norm_max", seed=seed)
        ok &= r.ok
        res["transported"].append(r.losses)
        L, ok2 = reset_run(s, rule, seed)
        ok &= ok2
        res["reset"].append(L)
        res["no teleport"].append(noether.train(s, rule, STEPS).losses)
    print(f"digits, heavy ball lr={LR} beta={BETA}, teleports before {AT}, seeds {list(SEEDS)}")
    for k, v in res.items():
        v = np.array(v)
        print(f"  {k:12s} loss at step 30 {v[:, 30].mean():.4f}  step 100 {v[:, 100].mean():.4f}  final {v[:, -1].mean():.4f}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for (k, v), c in zip(res.items(), ("C3", "C1", "C0")):
        for i, L in enumerate(v):
            ax.plot(L, color=c, alpha=0.6, label=k if i == 0 else None)
    ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.set_yscale("log"), ax.legend()
    fig.tight_layout()
    fig.savefig("teleport_momentum.png", dpi=100)
    print("reproduced" if ok else "NOT reproduced")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
