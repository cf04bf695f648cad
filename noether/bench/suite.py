"""Side-by-side timing: every method on every problem, checked equal, interleaved, median of repeats."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .methods import METHODS, make
import os

TOL = 1e-10   # max |Δ| / max |reference| over final θ and all recorded charges
MAX_REPEATS = 25
ROUND_BUDGET_S = 5.0


@dataclass
class Row:
    method: str
    activation: str
    input: int
    width: int
    out: int
    samples: int
    steps: int
    steps_per_s: float
    times: list
    max_rel_diff: float
    gflops: float
    steps_per_cpu_s: float = 0.0   # steps per second of process CPU time: shows how much the OS gave us

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("method", "activation", "input", "width", "out", "samples",
                                              "steps", "steps_per_s", "steps_per_cpu_s", "max_rel_diff",
                                              "gflops")}


def available_methods(wanted=METHODS) -> list[str]:
    out = []
    for m in wanted:
        mod = {"torch": "torch", "torch_mt": "torch", "jax": "jax"}.get(m)
        if mod:
            try:
                __import__(mod)
            except ImportError:
                continue
        out.append(m)
    return out


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return float("inf")
    scale = max(np.max(np.abs(b)) if b.size else 0.0, 1e-300)
    return float(np.max(np.abs(a - b)) / scale) if a.size else 0.0


def charge_flops(deriv) -> float:
    """Multiply-adds ×2 of one evaluation of every charge, as every method does once per step: a pair
    family G = Σ_t c_t M_t M_tᵀ costs h(h+1)/2 entries (upper triangle) × ΣK_t, a unit family h × ΣK_t.
    Noether's extra law check (B(g, g), the same again) is not counted: it is work the baselines skip."""
    from ..kernels.gramform import NotGram, gram_families
    try:
        fams = gram_families(deriv)
    except NotGram:
        return 0.0
    model = deriv.model
    shapes = {b.name: b.shape for b in model.blocks}
    total = 0.0
    for f in fams:
        K = sum((shapes[t.block][1 - t.axis] if len(shapes[t.block]) > 1 else 1) for t in f.terms)
        total += 2.0 * K * (f.h * (f.h + 1) / 2 if f.kind == "pair" else f.h)
    return total


def bench_problem(problem, methods, repeats: int, progress=lambda s: None, cache=None):
    """Rows for one problem.  Raises AssertionError if a method disagrees with noether beyond TOL."""
    from ..derive.derivation import derive
    from ..kernels.codegen import build_kernels
    deriv = derive(problem.model())
    kern = build_kernels(deriv, cache)
    impls = {m: make(m, problem, deriv, kern) for m in methods}
    ref_theta, ref_C = impls["noether"].check()
    diffs = {}
    for m, impl in impls.items():
        th, C = impl.check()
        d = max(_rel(th, ref_theta), _rel(C, ref_C))
        if not d <= TOL:
            raise AssertionError(f"{m} disagrees with noether on {problem.key}: max relative difference {d:.3e} "
                                 f"> {TOL:g}")
        diffs[m] = d
    times = {m: [] for m in methods}
    cpu = {m: [] for m in methods}
    t_start, r = time.perf_counter(), 0
    # interleaved, rotating the order each repeat; short problems get more repeats (up to
    # MAX_REPEATS, while the rounds take under ROUND_BUDGET_S) so that one scheduler hiccup of a few
    # ms cannot move the median of a 15 ms run
    while r < repeats or (r < MAX_REPEATS and time.perf_counter() - t_start < ROUND_BUDGET_S):
        order = methods[r % len(methods):] + methods[:r % len(methods)]
        for m in order:
            c0, t0 = time.process_time(), time.perf_counter()
            impls[m].run()
            times[m].append(time.perf_counter() - t0)
            cpu[m].append(time.process_time() - c0)
        r += 1
    rows = []
    flops = problem.flops_per_step() + charge_flops(deriv)
    for m in methods:
        sps = problem.steps / float(np.median(times[m]))
        rows.append(Row(m, problem.activation, problem.input, problem.width, problem.out, problem.samples,
                        problem.steps, sps, times[m], diffs[m], sps * flops / 1e9,
                        problem.steps / max(float(np.median(cpu[m])), 1e-9)))
        progress(f"    {m:9s} {sps:12.1f} steps/s  (cpu/wall {np.median(cpu[m]) / np.median(times[m]):.2f})")
    return rows


def matmul_peak(n: int = 1024, repeats: int = 7) -> float:
    """Measured float64 GFLOP/s of numpy's BLAS on an n×n product: the best of one thread and all
    threads, median of ``repeats`` each (the machine's attainable dense-product rate)."""

    from ..kernels.primitives import blas_threads
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((n, n)), rng.standard_normal((n, n)), np.empty((n, n))
    best = 0.0
    for threads in sorted({1, os.cpu_count() or 1}):
        with blas_threads(threads):
            np.dot(a, b, out=c)
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                np.dot(a, b, out=c)
                ts.append(time.perf_counter() - t0)
        best = max(best, 2.0 * n ** 3 / float(np.median(ts)) / 1e9)
    return best
