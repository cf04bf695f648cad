"""``noether codegen SPEC --out DIR``: write the readable numba module for a model."""

from __future__ import annotations

from pathlib import Path

from ..derive.derivation import derive
from ..kernels.cache import write_module
from ..kernels.codegen import module_source
from ._common import add_spec, load, output_dir

HELP = "write the generated numba kernels of a model to a folder"


def add_arguments(p):
    add_spec(p)
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the generated module")


def run(args) -> int:
    model = load(args)
    out = Path(output_dir(args.out))          # checked before the derivation, not after
    source, layout = module_source(derive(model))
    path = write_module(source, out, f"noether_{model.digest}")
    print(f"wrote {path} ({len(layout.names)} charges)")
    return 0
