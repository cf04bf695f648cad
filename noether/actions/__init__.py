"""Finite group actions on parameters (below the composers): the exact action of a model's derived
generators, and the data-dependent nonlinear action of Zhao et al. (ICLR 2023, Thm 4.1)."""

from .group import GroupAction, GroupElement, group_action
from .nonlinear import hidden_activations, interface, nonlinear_action, nonlinear_teleport

__all__ = ["GroupAction", "GroupElement", "group_action", "hidden_activations", "interface", "nonlinear_action",
           "nonlinear_teleport"]
