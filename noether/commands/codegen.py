"""``noether codegen SPEC --out DIR``: write the readable numba module for a model."""

from __future__ import annotations

import os

from ..derive.derivation import derive
from ..errors import SpecError
from ..kernels.codegen import module_source, write_module
from ._common import add_spec, load

HELP = "write the generated numba kernels of a model to a folder"


def add_arguments(p):
    add_spec(p)
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the generated module")


def run(args) -> int:
    model = load(args)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise SpecError("--out", f"{args.out!r} exists and is not a folder")
    source, layout = module_source(derive(model))
    os.makedirs(args.out, exist_ok=True)
    path = write_module(source, __import__("pathlib").Path(args.out), f"noether_{model.digest}")
    print(f"wrote {path} ({len(layout.names)} charges)")
    return 0
