"""``noether bench``: noether's kernels side by side with numpy, PyTorch eager and JAX jit+scan on the
same work (full-batch GD recording every charge each step), checked equal to 1e-10 before timing."""

from __future__ import annotations

import sys

from ..errors import SpecError
from ._common import positive_int, print_json

HELP = "benchmark the kernels against numpy, PyTorch and JAX (optional extra: pip install -e '.[bench]')"


def add_arguments(p):
    p.add_argument("--json", action="store_true", help='print {"rows": [...], ...} instead of the table')
    p.add_argument("--quick", action="store_true", help="a reduced set of sizes (under 3 minutes)")
    p.add_argument("--repeats", type=positive_int, default=None, help="fewest timed repeats per method (default 5; 3 quick); short problems get more, up to 25 "
                   "while the rounds take under 5 s")
    p.add_argument("--plot", metavar="FILE.png", default=None,
                   help="write steps/s against width per method (default noether_bench.png; needs matplotlib)")
    p.add_argument("--no-startup", action="store_true", help="skip derivation and CLI start-up timings")


def run(args) -> int:
    from ..bench import report
    if args.plot is not None and not args.plot.endswith(".png"):
        raise SpecError("--plot", "must name a .png file")
    progress = (lambda s: print(s, file=sys.stderr)) if args.json else print
    res = report.run(quick=args.quick, repeats=args.repeats, startup=not args.no_startup, progress=progress)
    png = report.plot(res, args.plot or "noether_bench.png")
    if args.json:
        out = res.to_json()
        out["plot"] = png
        print_json(out)
    else:
        print()
        print(report.table(res))
        print(f"plot: {png}" if png else "plot: skipped (matplotlib not installed)")
    return 0
