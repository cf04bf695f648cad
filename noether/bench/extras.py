"""Start-up costs: derivation time per layer type, and `noether derive` / `noether verify` end to end
(fresh subprocesses: cold = empty kernel cache, cached = second run on the same cache)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from importlib import resources

LAYER_TYPES = ("linear", "relu", "tanh", "leaky_relu", "softplus")


def derivation_times(width: int = 8) -> dict[str, float]:
    """Seconds of a full derivation (algebra, charges, GD law, JSON) of input 4 -> linear width -> [σ]
    -> linear 2, per σ ("linear": none), with the per-σ solver cache cleared first (cold per type)."""
    from ..derive.derivation import derive
    from ..derive.per_interface.elementwise import solve_elementwise
    from ..model import Model
    derive(Model.from_dict({"name": "warm", "input": 2, "loss": "mse",
                            "layer": [{"type": "linear", "out": 2}]})).to_json()   # imports, not timed
    out = {}
    for act in LAYER_TYPES:
        layers = [{"type": "linear", "out": width}] + ([{"type": "activation", "fn": act}] if act != "linear" else [])
        layers.append({"type": "linear", "out": 2})
        m = Model.from_dict({"name": f"t_{act}", "input": 4, "loss": "mse", "layer": layers})
        solve_elementwise.cache_clear()
        t0 = time.perf_counter()
        d = derive(m)
        d.law("gd")
        d.to_json()
        out[act] = time.perf_counter() - t0
    return out


def _cli(args, env) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "noether.cli", *args], env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"noether {' '.join(args)} exited {r.returncode}: {r.stderr.strip()[-400:]}")
    return dt


def cli_start_times() -> dict[str, float]:
    """Wall seconds of `noether derive` (cold), `noether verify` cold and cached on the demo ReLU spec,
    and the issue-16 rows: the line count of the quickstart MLP's generated module (``noether
    codegen``), `noether verify` of it cold (a fresh kernel cache) and cached, and `noether demo`
    cold (a fresh kernel cache).  Cold means an empty kernel cache, not an empty numba cache of
    noether's own primitives (compiled once per install)."""
    data = resources.files("noether.data")
    spec, quick = str(data / "demo_relu.toml"), str(data / "quickstart.toml")
    env = dict(os.environ)
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = {}
    with tempfile.TemporaryDirectory(prefix="noether_bench_") as cache:
        env["NOETHER_CACHE"] = cache
        out |= {"derive_cold_s": _cli(["derive", spec], env),
                "verify_cold_s": _cli(["verify", spec, "--cache", cache], env),
                "verify_cached_s": _cli(["verify", spec, "--cache", cache], env)}
    with tempfile.TemporaryDirectory(prefix="noether_bench_") as cache:
        env["NOETHER_CACHE"] = cache
        gen = os.path.join(cache, "gen")
        _cli(["codegen", quick, "--out", gen], env)
        out["quickstart_module_lines"] = sum(len(open(os.path.join(gen, f)).read().splitlines())
                                             for f in os.listdir(gen) if f.endswith(".py"))
        out |= {"quickstart_verify_cold_s": _cli(["verify", quick, "--cache", cache], env),
                "quickstart_verify_cached_s": _cli(["verify", quick, "--cache", cache], env)}
    with tempfile.TemporaryDirectory(prefix="noether_bench_") as cache:
        env["NOETHER_CACHE"] = cache
        out["demo_cold_s"] = _cli(["demo", "--cache", cache], env)
    return out
