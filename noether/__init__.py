"""noether: parameter-space symmetries of neural networks.

Pipeline, one direction:  spec -> Model -> Derivation -> Kernels -> Run -> Report.

>>> import noether
>>> model = noether.Model(3, [noether.Linear(4), noether.Activation("relu"), noether.Linear(2)])
>>> d = noether.derive(model)
>>> d.dim, d.n_charges
(4, 4)
"""

import importlib
import sys
import types

from ._version import __version__

#: Public name -> the module that defines it.  Loaded on first use (PEP 562), so a verb that
#: needs only the model layer (``noether count`` refusing a model too large for memory, ``--help``)
#: does not pay for importing the derivation, kernels and composers.
_SOURCES = {
    "actions": None, "align": None,        # composer packages, re-exported as such
    "GroupAction": "actions", "GroupElement": "actions", "group_action": "actions",
    "nonlinear_action": "actions", "nonlinear_teleport": "actions",
    "Derivation": "derive", "derive": "derive",
    "DivergenceError": "errors", "SpecError": "errors",
    "Kernels": "kernels.codegen", "build_kernels": "kernels.codegen",
    "LocalResult": "local", "local_symmetries": "local", "region_counts": "local_laws",
    "Activation": "model", "Layer": "model", "Linear": "model", "Loss": "model", "Model": "model",
    "LawCheck": "report", "Report": "report",
    "load_dataset": "run.datasets", "load_params": "run.params", "save_params": "run.params",
    "rotation_combinations": "sweep", "charge_matrices": "run.trajectory",
    "generator_sparse": "run.recheck",
    "TeleportResult": "teleport", "prepare": "teleport", "teleport": "teleport",
    "TrainResult": "train", "intervention_steps": "train", "train": "train",
    "VerifyOptions": "verify", "verify": "verify",
}

#: Functions that share their module's name.  The import system binds a submodule as an
#: attribute of its package once it is imported; these names keep meaning the function.
_SHADOWED = frozenset({"derive", "teleport", "train", "verify"})


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module 'noether' has no attribute {name!r}")
    src = _SOURCES[name]
    value = importlib.import_module(f".{src or name}", __name__)
    if src is not None:
        value = getattr(value, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_SOURCES))


class _Package(types.ModuleType):
    def __setattr__(self, name, value):
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

#: A literal list, so static tools read the public API; the lazy-root test keeps it equal to
#: the names of ``_SOURCES``.
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
