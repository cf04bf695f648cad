"""noether: parameter-space symmetries of neural networks.

Pipeline, one direction:  spec -> Model -> Derivation -> Kernels -> Run -> Report.

>>> import noether
>>> model = noether.Model(3, [noether.Linear(4), noether.Activation("relu"), noether.Linear(2)])
>>> d = noether.derive(model)
>>> d.dim, d.n_charges
(4, 4)
"""

from ._version import __version__

from . import actions, align  # composer packages: noether.actions (group actions), noether.align (Re-Basin, LMC)
from .actions import GroupAction, GroupElement, group_action, nonlinear_action, nonlinear_teleport
from .derive import Derivation, derive
from .errors import DivergenceError, SpecError
from .kernels.codegen import Kernels, build_kernels
from .local import LocalResult, local_symmetries
from .local_laws import region_counts
from .model import Activation, Layer, Linear, Loss, Model
from .report import LawCheck, Report
from .run.datasets import load_dataset
from .run.params import load_params, save_params
from .run.sweep import rotation_combinations
from .run.verify_optim import charge_matrices, generator_sparse
from .teleport import TeleportResult, prepare, teleport
from .train import TrainResult, intervention_steps, train
from .verify import VerifyOptions, verify

__all__ = [
    # the pipeline
    "Activation", "Derivation", "DivergenceError", "Kernels", "LawCheck", "Layer", "Linear", "Loss",
    "Model", "Report", "SpecError", "VerifyOptions", "build_kernels", "derive", "verify", "__version__",
    # using symmetry: group actions, teleportation, training, local symmetries, alignment
    "GroupAction", "GroupElement", "group_action", "nonlinear_action", "nonlinear_teleport",
    "TeleportResult", "prepare", "teleport", "TrainResult", "intervention_steps", "train",
    "LocalResult", "local_symmetries", "region_counts", "actions", "align",
    # parameter files and data
    "load_dataset", "load_params", "save_params",
    # helpers the composers and derivations share
    "charge_matrices", "generator_sparse", "rotation_combinations",
]
