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
from ._version import __version__
from .errors import SpecError
import os


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: one line, exit 2
        self.exit(2, f"noether: error: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """All verbs; with ``only`` (a verb name), just that verb's module is imported (start-up time:
    each verb imports what it needs, e.g. ``claim`` the hypothesis-based checks)."""
    parser = _Parser(prog="noether", description="Parameter-space symmetries of neural networks: "
                     "derive the Lie algebra, charges and breaking laws; verify them with numba kernels.")
    parser.add_argument("--version", action="version", version=f"noether {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True
    for name in verbs():
        if only is not None and name != only:
            continue
        mod = importlib.import_module(f"{commands.__name__}.{name}")
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def verbs() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))


def _verb_of(argv: list[str]) -> str | None:
    """The verb when it is the first argument and a known one (else None: build the full parser)."""
    return argv[0] if argv and argv[0] in verbs() else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_verb_of(argv)).parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except SpecError as exc:
        print(f"noether: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (``noether ... --json | head``): no traceback, the shell's SIGPIPE code
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("noether: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from .derive.global_search.exact import GlobalSearchError   # local: the derive stack is slow to import
        if not isinstance(exc, GlobalSearchError):
            raise
        print(f"noether: internal error (a bug: please report it with the spec): {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
