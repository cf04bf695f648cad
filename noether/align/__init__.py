"""Composers over the derived symmetries: align two networks, and the loss along the line between them.

* :func:`align`: weight matching (Ainsworth, Hayase & Srinivasa 2022, Git Re-Basin) or activation
  matching over the *derived* permutation groups of any layer type, optionally after bringing
  both networks to a canonical point of their continuous orbit (``modulo="group"``: per-unit
  rescalings and the GL freedom of linear blocks, :mod:`.linear_blocks`).
* :func:`interpolate`: loss and accuracy along θ(α) = (1−α)θ_A + αθ_B and the barrier
  (Frankle et al. 2020; Entezari et al. 2021).
"""

from . import canonical, linear_blocks
from ..derive.discrete import apply_group_element
from .align import AlignResult, align, function_model
from .align import permutation_groups as align_permutation_groups
from .barrier import Path, interpolate
from .params import load_parameters, save_parameters

__all__ = ["AlignResult", "Path", "align", "align_permutation_groups", "apply_group_element", "canonical", "function_model",
           "interpolate", "linear_blocks", "load_parameters", "save_parameters"]
