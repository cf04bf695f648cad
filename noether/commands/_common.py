"""Shared CLI helpers (not a verb: the leading underscore keeps it out of the verb list)."""

from __future__ import annotations

import json
import sys

from ..model import Model
import argparse
import math


def add_spec(parser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="model spec (TOML file)")


def load(args) -> Model:
    return Model.load(args.spec)


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
