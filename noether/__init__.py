"""noether: parameter-space symmetries of neural networks.

Pipeline, one direction:  spec -> Model -> Derivation -> Kernels -> Run -> Report.

>>> import noether
>>> model = noether.Model(3, [noether.Linear(4), noether.Activation("relu"), noether.Linear(2)])
>>> d = noether.derive(model)
>>> d.dim, d.n_charges
(4, 4)
"""

from ._version import __version__

from .derive import Derivation, derive
from .errors import DivergenceError, SpecError
from .kernels.codegen import Kernels, build_kernels
from .local import LocalResult, local_symmetries
from .local_laws import region_counts
from .model import Activation, Layer, Linear, Loss, Model
from .report import LawCheck, Report
from .verify import VerifyOptions, verify
from . import align  # composers: noether.align.align (Re-Basin matching), noether.align.interpolate (LMC)
from .run.sweep import rotation_combinations
from .run.verify_optim import charge_matrices, generator_sparse
from .actions import GroupAction, GroupElement, group_action
from .run.datasets import load_dataset
from .run.params import load_params, save_params
from .teleport import TeleportResult, prepare, teleport
from .train import TrainResult, intervention_steps, train

__all__ = [

]
__all__ += ["charge_matrices", "generator_sparse", "rotation_combinations"]   # composers' helpers
