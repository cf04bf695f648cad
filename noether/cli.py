"""``noether``: one verb per pipeline stage.  Each verb lives in ``noether/commands/<verb>.py``.

A verb module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
User errors (:class:`SpecError`) print one line and exit 2; a failed law exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands
from .errors import SpecError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: one line, exit 2
        self.exit(2, f"noether: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="noether", description="Parameter-space symmetries of neural networks: "
                     "derive the Lie algebra, charges and breaking laws; verify them with numba kernels.")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{commands.__name__}.{info.name}")
        p = sub.add_parser(info.name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except SpecError as exc:
        print(f"noether: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("noether: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
