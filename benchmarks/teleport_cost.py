"""Cost of a teleport and of a closed-form balancing pass, in GD steps of the same model on the same
data, measured in this process (issue 12 targets: teleport ≤ 20 GD steps, balancing ≤ 2)."""

import dataclasses
import sys
import time

import numpy as np

import noether
from noether.run.gd import run_gd
from noether.teleport import balance_pass


def spec(depth, width, loss="mse"):
    layers = []
    for _ in range(depth - 1):
        layers += [{"type": "linear", "out": width}, {"type": "activation", "fn": "leaky_relu"}]
    return {"input": 64, "loss": loss, "layer": layers + [{"type": "linear", "out": 10}]}


def best(fn, repeats=5):
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def main() -> int:
    print(f"{'model':25s} {'GD step ms':>10s} {'teleport ms':>11s} {'ratio':>6s} {'balance ms':>10s} {'ratio':>6s} {'pass ms':>9s} {'ratio':>6s}")
    # the last: experiment 1's cross-entropy net (teleport_digits.py), whose softmax translations
    # make the algebra non-abelian
    for depth, width, loss in ((3, 16, "mse"), (8, 32, "mse"), (16, 8, "mse"), (3, 16, "cross_entropy")):
        m = noether.Model.from_dict(spec(depth, width, loss))
        s = noether.prepare(m, dataset="digits")
        s = dataclasses.replace(s, theta=m.init(np.random.default_rng(0)))
        run_gd(s.kernels, s.theta, s.X, s.Y, 0.01, 2, check_law=False)          # compile
        gd = best(lambda: run_gd(s.kernels, s.theta, s.X, s.Y, 0.01, 20, record=False, check_law=False)) / 20
        tp = best(lambda: noether.teleport(s.kernels, s.action, s.theta, s.X, s.Y, "grad_norm_max", 10))
        bal = best(lambda: noether.teleport(s.kernels, s.action, s.theta, s.X, s.Y, "balance", 1))
        # the closed-form pass alone, without the two measuring loss/gradient evaluations teleport adds
        bp = best(lambda: s.action.scaling(balance_pass(s.action, s.theta, sweeps=1)[0]).apply(s.theta))
        print(f"{f'leaky {depth}x{width} {loss[:2]} D={m.D}':25s} {gd * 1e3:10.3f} {tp * 1e3:11.2f} {tp / gd:6.1f} "
              f"{bal * 1e3:10.2f} {bal / gd:6.1f} {bp * 1e3:9.2f} {bp / gd:6.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
