"""Timing of ``count`` (numeric Lie-algebra rank) per architecture, against the published
SageMath reference of Marcotte, Gribonval & Peyré (NeurIPS 2023): about 41 s per small linear
and 136 s per small ReLU architecture (widths 2–9, depth 2–4) on a 64-core machine.
Derived-charge comparison is excluded (it belongs to the derivation stage).
Run: PYTHONPATH=. python benchmarks/bench_count.py [--large] [--width 128]
(``--width W``: only one 3 → W → 2 ReLU count, derivation included as ``noether count`` runs
it, with its time and the process peak memory; issue 11 asks ≤ 5 s and ≤ 1 GB at W = 128.)
"""

import sys
import time

import numpy as np

from noether.completeness.count import count_laws
from noether.model import Activation, Linear, Model

PUBLISHED = {"linear": 41.0, "relu": 136.0}


def mlp(widths, act=None, bias=True):
    layers = []
    for i, w in enumerate(widths[1:]):
        layers.append(Linear(w, bias))
        if act and i < len(widths) - 2:
            layers.append(Activation(act))
    return Model(widths[0], layers)


def bench(widths, act, flow="gradient", seed=0, with_derived=False):
    m = mlp(widths, act, True)
    t = time.perf_counter()
    r = count_laws(m, flow=flow, seed=seed, with_derived=with_derived)
    dt = time.perf_counter() - t
    kind = act or "linear"
    print(f"{kind:6s} {flow:8s} {str(widths):22s} D={m.D:5d} laws={r.laws!s:4s} gap={r.gap:8.1e} "
          f"points={len(r.points)} {dt:7.3f} s  ({PUBLISHED[kind] / dt:7.0f}x faster than published)")
    return dt


rng = np.random.default_rng(0)
count_laws(mlp([2, 2, 2], "relu"), with_derived=False)          # warm-up (sympy lambdify caches)
if "--width" in sys.argv:
    import resource

    W = int(sys.argv[sys.argv.index("--width") + 1])
    # as `noether count` runs: with the derivation, whose charges bound dim Lie from above
    dt = bench([3, W, 2], "relu", with_derived=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # KiB on Linux -> GiB
    print(f"width {W}: {dt:.1f} s, process peak {peak:.2f} GiB (issue 11 target: <= 5 s, <= 1 GiB at 128)")
    raise SystemExit(0)
times = {"linear": [], "relu": []}
for depth in (2, 3, 4):
    for _ in range(4):
        widths = [int(w) for w in rng.integers(2, 10, size=depth + 1)]
        for act in (None, "relu"):
            times[act or "linear"].append(bench(widths, act))
for kind, ts in times.items():
    print(f"{kind}: mean {np.mean(ts):.3f} s, max {max(ts):.3f} s per architecture "
          f"(published {PUBLISHED[kind]:.0f} s; speed-up {PUBLISHED[kind] / np.mean(ts):.0f}x mean)")
for widths in ([3, 4, 2], [2, 3, 3, 2]):
    bench(widths, "relu", flow="momentum")
if "--large" in sys.argv:
    bench([10, 30, 20, 5], "relu")        # ~1 000 parameters
    bench([16, 24, 24, 10], "relu")       # ~1 250 parameters
