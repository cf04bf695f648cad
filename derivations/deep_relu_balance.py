"""Experiment 2: deep plain ReLU MLPs (no residuals, no normalisation) on digits, started from an
initialisation moved by a random element of the derived rescaling group (same function, badly
balanced).  For each start, GD at every learning rate of a grid: the step at which it diverged, or
the steps and seconds to a target loss.  Starts: the initialisation itself, the unbalanced point,
the unbalanced point balanced every 10 steps from step 0 (``noether train --balance-every 10``),
and the unbalanced point balanced once (the balanced start).  The gradient-norm balancing of the
comment on the LessWrong post.

Usage: ``python derivations/deep_relu_balance.py [DEPTH ...]`` (default 16 32 64).

Reproduced when the unbalancing element kept the loss to float64 rounding, every balancing pass kept
the loss and did not raise ½‖θ‖², and every GD law held on every run that did not diverge.  The
steps, seconds and divergences are the measurement and are printed, whatever they show."""

import dataclasses
import sys

import numpy as np

import noether
from noether.optim import make_rule

DEPTHS = tuple(int(a) for a in sys.argv[1:]) or (16, 32, 64)
WIDTH, N, STEPS, EVERY, SPREAD = 32, 512, 1000, 10, 1.0
LRS = (0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0001)
#: below 0.45, the loss of the best constant prediction (MSE on one-hot digits, ½ Σ_k var(y_k)):
#: a run that reaches it has learned something beyond the class frequencies
TARGET = 0.40


def spec(depth):
    layers = []
    for _ in range(depth - 1):
        layers += [{"type": "linear", "out": WIDTH}, {"type": "activation", "fn": "relu"}]
    return {"input": 64, "loss": "mse", "layer": layers + [{"type": "linear", "out": 10}]}


def main() -> int:
    ok, rows = True, []
    for depth in DEPTHS:
        model = noether.Model.from_dict(spec(depth))
        s = noether.prepare(model, dataset="digits")
        s = dataclasses.replace(s, X=s.X[:N], Y=s.Y[:N])
        th0, g = s.theta, s.action
        # a random scaling element: log-scales of the unit generators ~ N(0, SPREAD²), seeded
        t = np.zeros(g.dim)
        t[g.diagonal] = np.random.default_rng([depth, 7]).standard_normal(len(g.diagonal)) * SPREAD
        bad = g.element(t).apply(th0)
        L0 = noether.teleport(s.kernels, g, th0, s.X, s.Y, "grad_norm_min", steps=1)
        Lb = noether.teleport(s.kernels, g, bad, s.X, s.Y, "balance", steps=50)
        ok &= abs(Lb.loss_before - L0.loss_before) <= 1e-11 * L0.loss_before and Lb.ok
        print(f"depth {depth}: D = {model.D}, loss at the start {L0.loss_before:.4f}; ½‖θ‖² "
              f"initialisation {0.5 * th0 @ th0:.1f}, unbalanced {0.5 * bad @ bad:.3g}, "
              f"balanced {0.5 * Lb.theta @ Lb.theta:.1f}", flush=True)
        for label, theta, iv in (("initialisation", th0, {}), ("unbalanced", bad, {}),
                                 (f"unbalanced, balance every {EVERY}", bad,
                                  noether.intervention_steps(STEPS, balance_every=EVERY)),
                                 ("balanced start", Lb.theta, {})):
            for lr in LRS:
                r = noether.train(dataclasses.replace(s, theta=theta), make_rule("gd", lr=lr), STEPS, iv,
                                  target_loss=TARGET)
                if r.diverged_at is None:
                    ok &= r.ok
                rows.append((depth, label, lr, r.steps_to_target, r.seconds, r.final_loss, r.diverged_at))
                what = (f"diverged at step {r.diverged_at}" if r.diverged_at is not None else
                        f"steps to {TARGET}: {r.steps_to_target}  seconds {r.seconds:.2f}  "
                        f"last loss {r.final_loss:.4f}")
                print(f"depth {depth:3d} {label:28s} lr {lr:<7g} {what}", flush=True)
    print("\nsummary: the fewest steps to the target over the learning rates (and the largest stable lr)")
    for depth in DEPTHS:
        for label in dict.fromkeys(r[1] for r in rows if r[0] == depth):
            mine = [r for r in rows if r[0] == depth and r[1] == label]
            stable = [r[2] for r in mine if r[6] is None]
            hit = [r for r in mine if r[3] is not None]
            best = min(hit, key=lambda r: r[3]) if hit else None
            print(f"depth {depth:3d} {label:28s} largest stable lr {max(stable) if stable else None}; "
                  + (f"target in {best[3]} steps ({best[4]:.2f} s) at lr {best[2]:g}" if best else
                     f"target not reached in {STEPS} steps (lowest last loss "
                     f"{min((r[5] for r in mine if r[6] is None), default=float('nan')):.4f})"))
    _plot(rows)
    print("reproduced" if ok else "NOT reproduced")
    return 0 if ok else 1


def _plot(rows):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    depths = sorted({r[0] for r in rows})
    fig, axes = plt.subplots(1, len(depths), figsize=(4 * len(depths), 3.4), squeeze=False, sharey=True)
    for ax, depth in zip(axes[0], depths):
        for k, label in enumerate(dict.fromkeys(r[1] for r in rows)):
            mine = [r for r in rows if r[0] == depth and r[1] == label]
            line, = ax.semilogx([r[2] for r in mine], [r[5] if r[6] is None else np.nan for r in mine], "o-",
                                label=label, alpha=0.8)
            bad = [r[2] for r in mine if r[6] is not None]
            ax.plot(bad, [0.6 + 0.01 * k] * len(bad), "x", color=line.get_color())
        ax.axhline(TARGET, color="k", lw=0.5), ax.axhline(0.45, color="k", lw=0.5, ls=":")
        ax.set_title(f"depth {depth}"), ax.set_xlabel("learning rate"), ax.set_ylim(0.3, 0.65)
    axes[0][0].set_ylabel(f"last loss (stops at {TARGET}; x: diverged)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig("deep_relu_balance.png", dpi=100)


if __name__ == "__main__":
    sys.exit(main())
