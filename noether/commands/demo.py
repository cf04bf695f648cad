"""``noether demo``: derive, codegen and verify the embedded ReLU and linear MLPs."""

from __future__ import annotations

import time
from importlib import resources

from ..derive.derivation import derive
from ..kernels.codegen import build_kernels
from ..model import Model
from ..verify import VerifyOptions, verify
from ._common import positive_int
from .derive import text_report

HELP = "derive, generate kernels and verify a 2-layer ReLU MLP and a linear MLP"


def add_arguments(p):
    p.add_argument("--steps", type=positive_int, default=2000, help="GD steps (default 2000)")
    p.add_argument("--cache", metavar="DIR", help="kernel cache folder")


def run(args) -> int:
    ok = True
    for name in ("demo_relu.toml", "demo_linear.toml"):
        text = resources.files("noether.data").joinpath(name).read_text()
        model = Model.from_toml(text, name.removesuffix(".toml"))
        print("=" * 78)
        t0 = time.perf_counter()
        d = derive(model)
        print(text_report(d))
        t1 = time.perf_counter()
        print(f"\n[derived in {t1 - t0:.2f} s]  generating and compiling kernels ...")
        k = build_kernels(d, args.cache)
        t2 = time.perf_counter()
        print(f"[kernels {k.path.name} ready in {t2 - t1:.2f} s]  verifying ...")
        rep = verify(model, VerifyOptions(steps=args.steps, cache=args.cache), deriv=d, kernels=k)
        print(rep.table())
        print(f"[verified in {time.perf_counter() - t2:.2f} s] " + rep.verdict)
        ok &= rep.ok
    return 0 if ok else 1
