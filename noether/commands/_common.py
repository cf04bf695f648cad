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
