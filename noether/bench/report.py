"""The whole benchmark: problems × methods, the machine's matmul peak, start-up costs, the targets of
issue 7 with the measured gap where one is missed, a text table and a PNG plot."""

from __future__ import annotations

from dataclasses import dataclass, field

from .methods import BASELINES, METHODS
from .problems import FULL, QUICK
from .suite import available_methods, bench_problem, matmul_peak

JAX_SMALL, TORCH_SMALL, JAX_LARGE, PEAK_FRACTION = 1.2, 5.0, 1.0, 0.5
DERIVE_S, VERIFY_CACHED_S = 2.0, 2.0
# issue 16: the quickstart MLP's generated module, cold verify and cold demo (fresh kernel cache)
MODULE_LINES, VERIFY_COLD_S, DEMO_COLD_S = 600, 4.0, 8.0


@dataclass
class BenchResult:
    rows: list = field(default_factory=list)
    peak_gflops: float = 0.0
    derivation_s: dict = field(default_factory=dict)
    cli_s: dict = field(default_factory=dict)
    targets: list = field(default_factory=list)     # (name, measured, target, ok, note)
    missing: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {"rows": [r.to_json() for r in self.rows], "peak_gflops": self.peak_gflops,
                "derivation_s": self.derivation_s, "cli_s": self.cli_s, "missing_methods": self.missing,
                "targets": [{"target": n, "measured": None if m != m else m, "required": None if t != t else t,
                             "ok": ok, "measured_in_run": m == m, "gap": note}
                            for n, m, t, ok, note in self.targets]}


def run(quick: bool = False, repeats: int | None = None, methods=METHODS, startup: bool = True,
        progress=lambda s: None, problems=None) -> BenchResult:
    res = BenchResult()
    ms = available_methods(methods)
    res.missing = [m for m in methods if m not in ms]
    if res.missing:
        progress(f"not installed, skipped: {', '.join(res.missing)} (pip install -e '.[bench]')")
    repeats = repeats or (3 if quick else 5)
    res.peak_gflops = matmul_peak()
    progress(f"matmul peak (numpy BLAS, 1024^3, float64): {res.peak_gflops:.1f} GFLOP/s")
    for p in problems or (QUICK if quick else FULL):
        progress(f"  {p.key}, {p.steps} steps")
        res.rows += bench_problem(p, ms, repeats, progress)
    res.peak_gflops = max(res.peak_gflops, matmul_peak())     # measured again at the end: take the better
    if startup:
        from .extras import cli_start_times, derivation_times
        res.derivation_s = derivation_times()
        res.cli_s = cli_start_times()
    res.targets = targets(res)
    return res


def _by_problem(rows):
    out = {}
    for r in rows:
        out.setdefault((r.activation, r.input, r.width, r.out, r.samples, r.steps), {})[r.method] = r
    return out


def targets(res: BenchResult) -> list:
    t = []
    for key, ms in _by_problem(res.rows).items():
        if "noether" not in ms:
            continue
        n = ms["noether"].steps_per_s
        label = f"{key[0]} w={key[2]} N={key[4]}"
        checks = []
        if key[2] <= 64:
            checks += [("jax", JAX_SMALL), ("torch", TORCH_SMALL)]
        elif key[2] <= 1024:
            checks += [("jax", JAX_LARGE)]
        for m, need in checks:
            if m in ms:
                ratio = n / ms[m].steps_per_s
                note = "" if ratio >= need else f"missed by {100 * (1 - ratio / need):.0f}% ({ratio:.2f}x < {need}x)"
                if "noether_law" in ms:   # for information: the law check is work no baseline does
                    law = ms["noether_law"].steps_per_s / ms[m].steps_per_s
                    note += f"{'; ' if note else ''}with the per-step law check {law:.2f}x"
                t.append((f"{label}: noether/{m}", ratio, need, ratio >= need, note))
        if key[2] == 1024 and res.peak_gflops:
            frac = ms["noether"].gflops / res.peak_gflops
            t.append((f"{label}: fraction of matmul peak", frac, PEAK_FRACTION, frac >= PEAK_FRACTION,
                      "" if frac >= PEAK_FRACTION else f"missed by {100 * (PEAK_FRACTION - frac):.0f} points"))
    have = {(w <= 64, 256 <= w <= 1024, w == 1024) for (_, _, w, *_), ms in _by_problem(res.rows).items()
            if "noether" in ms}
    for label, covered in (("width <= 64: noether/jax >= 1.2x and noether/torch >= 5x", any(h[0] for h in have)),
                           ("width 256-1024: noether/jax >= 1.0x", any(h[1] for h in have)),
                           ("width 1024: >= 50% of matmul peak", any(h[2] for h in have))):
        if not covered:
            t.append((label, float("nan"), float("nan"), False, "not measured in this run (no such problem)"))
    if not res.cli_s:
        t.append(("noether derive / verify start-up (s)", float("nan"), float("nan"), False,
                  "not measured in this run (--no-startup)"))
    for name, need, key in (("noether derive demo_relu, cold (s)", DERIVE_S, "derive_cold_s"),
                            ("noether verify demo_relu, cached (s)", VERIFY_CACHED_S, "verify_cached_s"),
                            ("quickstart generated module (lines)", MODULE_LINES, "quickstart_module_lines"),
                            ("noether verify quickstart, cold kernel cache (s)", VERIFY_COLD_S,
                             "quickstart_verify_cold_s"),
                            ("noether demo, cold kernel cache (s)", DEMO_COLD_S, "demo_cold_s")):
        if key in res.cli_s:
            v = res.cli_s[key]
            unit = "" if key.endswith("lines") else " s"
            t.append((name, v, need, v <= need,
                      "" if v <= need else f"missed by {v - need:.{0 if unit == '' else 2}f}{unit} ({v / need:.2f}x)"))
    return t


def table(res: BenchResult) -> str:
    lines = [f"matmul peak: {res.peak_gflops:.1f} GFLOP/s (float64, numpy BLAS 1024^3)", ""]
    ms = [m for m in METHODS if any(r.method == m for r in res.rows)]
    head = f"{'problem':30s} {'steps':>5s} " + " ".join(f"{m:>10s}" for m in ms)
    base = [m for m in ms if m in BASELINES]
    head += "  " + " ".join(f"{'/' + m:>9s}" for m in base) + f"  {'GFLOP/s':>8s}"
    lines += ["steps/s per method, and noether's ratio against each baseline (same run, interleaved, median)",
              head]
    for key, by in _by_problem(res.rows).items():
        label = f"{key[0]} {key[1]}-{key[2]}-{key[3]} N={key[4]}"
        s = f"{label:30s} {key[5]:5d} " + " ".join(f"{by[m].steps_per_s:10.1f}" if m in by else f"{'-':>10s}"
                                                   for m in ms)
        n = by.get("noether")
        s += "  " + " ".join(f"{n.steps_per_s / by[m].steps_per_s:8.2f}x" if n and m in by else f"{'-':>9s}"
                             for m in base)
        s += f"  {n.gflops:8.2f}" if n else ""
        lines.append(s)
    lines.append("noether: the same work as the baselines (GD recording every charge each step); noether_law also"
                 " checks the exact GD law on every charge each step (B(g, g) and a rounding scale per charge);"
                 " all methods agree to 1e-10 and the law holds to 1e-10 (asserted); GFLOP/s counts the dense"
                 " products of one step and one charge evaluation")
    n_ok = sum(1 for t in res.targets if t[3])
    n_miss = sum(1 for t in res.targets if not t[3] and t[1] == t[1])
    lines += ["", "steps per CPU-second (process CPU time; differs from steps/s when other load takes the cores)",
              f"{'problem':30s} {'':5s} " + " ".join(f"{m:>10s}" for m in ms)]
    for key, by in _by_problem(res.rows).items():
        label = f"{key[0]} {key[1]}-{key[2]}-{key[3]} N={key[4]}"
        lines.append(f"{label:30s} {'':5s} " + " ".join(f"{by[m].steps_per_cpu_s:10.1f}" if m in by else f"{'-':>10s}"
                                                          for m in ms))
    if res.derivation_s:
        lines += ["", "derivation time per layer type (input 4 -> 8 -> [sigma] -> 2):"]
        lines += [f"  {k:12s} {v:6.2f} s" for k, v in res.derivation_s.items()]
    if res.cli_s:
        lines += ["", "CLI end to end, fresh process (demo_relu.toml; quickstart = the README's MLP):"]
        lines += [f"  {k:26s} {v:6.0f} lines" if k.endswith("lines") else f"  {k:26s} {v:6.2f} s"
                  for k, v in res.cli_s.items()]
    lines += ["", f"targets: {n_ok} met, {n_miss} missed"
              + (f", {len(res.targets) - n_ok - n_miss} not measured" if len(res.targets) > n_ok + n_miss else "")]
    for name, m, need, ok, note in res.targets:
        if m != m:   # NaN: not measured
            lines.append(f"  [NOT MEASURED] {name}: {note}")
            continue
        upper = name.endswith(("s)", "(lines)"))      # times and sizes are bounded above
        lines.append(f"  [{'ok' if ok else 'MISSED'}] {name}: {m:.3g} (need {'<=' if upper else '>='} {need})"
                     + (f"  {note}" if note else ""))
    return "\n".join(lines)


def plot(res: BenchResult, path: str) -> str | None:
    """steps/s against width per method, one panel per (activation, samples); None without matplotlib."""
    try:
        import matplotlib  # lazy: optional plots extra, slow to import
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # after choosing the Agg backend
    except ImportError:
        return None
    panels = sorted({(r.activation, r.samples) for r in res.rows})
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.5), squeeze=False)
    for ax, (act, n) in zip(axes[0], panels):
        for m in METHODS:
            pts = sorted((r.width, r.steps_per_s) for r in res.rows if (r.activation, r.samples, r.method) == (act, n, m))
            if pts:
                ax.loglog(*zip(*pts), marker="o", label=m)
        ax.set_title(f"{act}, N={n}")
        ax.set_xlabel("width")
        ax.set_ylabel("steps/s")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
