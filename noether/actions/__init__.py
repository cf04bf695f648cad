"""Finite group actions of a model's derived symmetry generators (below the composers)."""

from .group import GroupAction, GroupElement, group_action

__all__ = ["GroupAction", "GroupElement", "group_action"]
