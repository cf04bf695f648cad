"""Side-by-side benchmark (issue 7): noether's verified kernels vs numpy, PyTorch eager and JAX jit+scan.

Same as ``noether bench``; kept here so the suite can be run from a checkout:

    python benchmarks/sidebyside.py [--quick] [--json] [--plot FILE.png]

Needs the optional extra: ``pip install -e '.[bench]'`` (torch CPU wheel, jax, matplotlib).
"""

import sys

from noether.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
