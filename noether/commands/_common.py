"""Shared CLI helpers (not a verb: the leading underscore keeps it out of the verb list)."""

from __future__ import annotations

import json
import sys

from ..errors import SpecError
from ..model import Model
import argparse
import math
import os


def add_spec(parser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="model spec (TOML file)")


def load(args) -> Model:
    return Model.load(args.spec)


def output_dir(path: str, field: str = "--out") -> str:
    """Create (or accept) the folder ``path`` before any work is done; a one-line SpecError when
    it cannot be a folder (a file in the way, no permission, a read-only place)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise SpecError(field, f"{path!r} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise SpecError(field, f"cannot create folder {path!r} ({exc.strerror}); give a writable folder") from None
    if not os.access(path, os.W_OK):
        raise SpecError(field, f"folder {path!r} is not writable; give a writable folder")
    return path


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return v


def finite_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return v


def add_optimizer_arguments(p, default: str | None = "gd", lr: bool = True, help: str | None = None) -> None:
    """``--optimizer`` and one flag per declared hyperparameter (:mod:`noether.optim.hyper`),
    generated from the declarations: a new hyperparameter gets its flag on every verb."""
    from ..optim import OPTIMIZERS
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), default=default,
                   help=help or f"update rule (default {default})")
    add_hyper_arguments(p, lr)


def add_hyper_arguments(p, lr: bool = True) -> None:
    """One flag per declared hyperparameter; ``lr=False`` when the verb has its own ``--lr``."""
    from ..optim import HYPERS, OPTIMIZERS
    for h in HYPERS.values():
        if h.name == "lr" and not lr:
            continue                    # the verb has its own --lr (a list, in sweep)
        users = {n: c.defaults.get(h.name, h.default) for n, c in OPTIMIZERS.items() if h in c.hyper}
        text = h.help if len(users) == len(OPTIMIZERS) else f"{h.help} ({', '.join(users)})"
        if h.kind is bool:
            p.add_argument(h.flag, dest=h.name, action="store_true", default=None, help=text)
            continue
        by_default: dict = {}
        for n, v in users.items():
            by_default.setdefault(v, []).append(n)
        text += f"; {h.accepted()}; default " + (f"{next(iter(by_default)):g}" if len(by_default) == 1 else
                                                  ", ".join(f"{v:g} ({'/'.join(ns)})" for v, ns in by_default.items()))
        p.add_argument(h.flag, dest=h.name, type=finite_float, metavar=h.name.upper(), help=text.replace("%", "%%"),
                       default=h.default if h.name == "lr" else None)   # None: the rule's own default


def hyper_values(args) -> dict:
    """The hyperparameters given on the command line, by name (the rule supplies the rest)."""
    from ..optim import HYPERS
    return {h.name: getattr(args, h.name) for h in HYPERS.values()
            if h.name != "lr" and getattr(args, h.name, None) is not None}
