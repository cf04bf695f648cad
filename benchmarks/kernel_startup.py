"""First-run compile time of a deep net's GD kernel, and GD step throughput (issue 16).

    python benchmarks/kernel_startup.py                 # depth 12 and the two throughput rows
    python benchmarks/kernel_startup.py --depth 24

The compile row builds the 64-(32 x depth)-10 ReLU net's kernels in an empty kernel cache and
times its first GD run (2 steps, 64 samples, serial): numba compiles the model's pass, its
charges and GD's law and step then.  The loops around them are compiled once per install (run
this script once before timing a fresh install).  It prints the functions that took longest to
compile, from numba's own compile events.

The throughput rows time GD (every charge recorded, the law checked or not) on relu 64-w-10,
N = 256, best of five runs in this process after a warm-up that compiles.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from numba.core import event

import noether
from noether.kernels import build_kernels
from noether.run import run_gd


def _mlp(width: int, depth: int, out: int = 10) -> noether.Model:
    layers = []
    for _ in range(depth):
        layers += [{"type": "linear", "out": width}, {"type": "activation", "fn": "relu"}]
    return noether.Model.from_dict({"input": 64, "loss": "mse", "layer": layers + [{"type": "linear", "out": out}]})


def compile_time(depth: int, seed: int = 0) -> tuple[float, float, list[tuple[float, str]]]:
    """(derive + print seconds, first GD run seconds, [(seconds, function)] of its compiles)."""
    m = _mlp(32, depth)
    rec = event.RecordingListener()
    event.register("numba:compile", rec)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="noether_startup_") as cache:
        k = build_kernels(noether.derive(m), cache)
        t1 = time.perf_counter()
        rng = np.random.default_rng(seed)
        X, Y = rng.standard_normal((64, 64)), rng.standard_normal((64, 10))
        run_gd(k, m.init(rng), X, Y, 0.01, 2, parallel=False)
        t2 = time.perf_counter()
    event.unregister("numba:compile", rec)
    starts, per = {}, {}
    for ts, ev in rec.buffer:
        disp = (ev.data or {}).get("dispatcher")
        key = (disp.py_func.__qualname__ if disp is not None else "?", str((ev.data or {}).get("args")))
        if ev.is_start:
            starts[key] = ts
        elif key in starts:       # nested compiles are counted in their callers too
            per[key[0]] = per.get(key[0], 0.0) + ts - starts[key]
    return t1 - t0, t2 - t1, sorted(((v, n) for n, v in per.items()), reverse=True)


def steps_per_second(width: int, steps: int, law: bool, seed: int = 0) -> float:
    m = _mlp(width, 1)
    k = build_kernels(noether.derive(m))
    rng = np.random.default_rng(seed)
    X, Y, th = rng.standard_normal((256, 64)), rng.standard_normal((256, 10)), m.init(rng)
    run_gd(k, th, X, Y, 1e-3, 3, record=False, check_law=law)       # compile
    best = np.inf
    for _ in range(5):
        t = time.perf_counter()
        run_gd(k, th, X, Y, 1e-3, steps, record=False, check_law=law)
        best = min(best, time.perf_counter() - t)
    return steps / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", type=int, default=12, help="hidden ReLU layers of width 32 (default 12)")
    args = ap.parse_args()
    prep, first, per = compile_time(args.depth)
    print(f"64-(32x{args.depth})-10 ReLU: derive + print {prep:.2f} s, first GD run (compiling) {first:.2f} s "
          f"(issue 16's target at depth 12: under 15 s)")
    print("  longest compiles (callees included): " + ", ".join(f"{n} {v:.2f} s" for v, n in per[:6]))
    for width, steps in ((16, 4000), (256, 400)):
        rates = [steps_per_second(width, steps, law) for law in (False, True)]
        print(f"GD relu 64-{width}-10, N = 256: {rates[0]:,.0f} steps/s, {rates[1]:,.0f} with the law checked")


if __name__ == "__main__":
    main()
