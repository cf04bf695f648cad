"""noether: parameter-space symmetries of neural networks.

Pipeline, one direction:  spec -> Model -> Derivation -> Kernels -> Run -> Report.

>>> import noether
>>> model = noether.Model(3, [noether.Linear(4), noether.Activation("relu"), noether.Linear(2)])
>>> d = noether.derive(model)
>>> d.dim, d.n_charges
(4, 4)
"""

__version__ = "0.1.0"

from .derive import Derivation, derive
from .errors import DivergenceError, SpecError
from .kernels.codegen import Kernels, build_kernels
from .local import LocalResult, local_symmetries
from .local_laws import region_counts
from .model import Activation, Layer, Linear, Loss, Model
from .report import LawCheck, Report
from .verify import VerifyOptions, verify

__all__ = [
    "Activation", "Derivation", "DivergenceError", "Kernels", "LawCheck", "Layer", "Linear", "Loss",
    "Model", "Report", "SpecError", "VerifyOptions", "build_kernels", "derive",
    "LocalResult", "local_symmetries", "region_counts", "verify", "__version__",
]
