"""The layer base class: one extension point, one file per layer type.

A layer knows its parameter blocks, its output size, and its forward pass, symbolic (sympy)
and numeric (numpy).  It knows nothing about symmetries: the derivation discovers those.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import sympy as sp


@dataclass(frozen=True)
class Block:
    """A named parameter tensor, e.g. ``W1`` of shape (4, 3); symbols ``W1_<i>_<j>``."""

    name: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    def symbol_names(self) -> list[str]:
        return [self.name + "".join(f"_{i}" for i in idx) for idx in np.ndindex(*self.shape)]


class Layer(ABC):
    """A layer type.  Subclasses register themselves under ``type`` for the TOML spec."""

    type: ClassVar[str]
    registry: ClassVar[dict[str, type[Layer]]] = {}
    #: True for layers applied elementwise with no parameters (the derivation fuses chains of them).
    elementwise: ClassVar[bool] = False
    #: True when a sample's output depends on the other samples of its batch (batchnorm).  The
    #: exact global search then feeds several symbolic samples through :meth:`symbolic_batch`, and
    #: the kernels do not split the batch into row chunks.
    batch_coupled: ClassVar[bool] = False
    #: The stabiliser added under a square root (normalisations); 0 when the layer has none.  With
    #: ``eps`` > 0 the derivation reports which symmetries of the eps = 0 model it breaks.
    eps: float = 0.0
    #: Layers a container applies inside itself, in order (``residual``); empty for a plain layer.
    #: The derivation walks them to find batch-coupled and eps layers.
    inner: tuple = ()
    #: Parametrised layers this one holds beyond the first: the model index advances by
    #: 1 + ``extra_indices`` so inner blocks keep the names they would have without the container.
    extra_indices: int = 0
    #: True when the spec declares the layer's output size (``out``); used to name the field of a
    #: size mismatch inside a container.
    declares_out: ClassVar[bool] = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "type" in cls.__dict__:
            Layer.registry[cls.type] = cls

    # -- construction ------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def from_spec(cls, table: dict, field: str) -> Layer:
        """Build from one ``[[layer]]`` TOML table; raise SpecError naming ``field``."""

    def set_seq(self, seq: int | None) -> None:
        """Tell the layer the model's tokens per sample (``seq``; None: samples are vectors).
        Called once by :class:`~noether.model.Model` before :meth:`bind`; sequence-aware layers
        (attention, containers of them) override it."""

    def bind(self, in_dim: int, index: int | None) -> None:
        """Fix the input size and (for parametrised layers) the 1-based layer index."""
        self.in_dim, self.index = in_dim, index

    @property
    def has_params(self) -> bool:
        return bool(self.blocks())

    def blocks(self) -> list[Block]:
        return []

    @abstractmethod
    def out_dim(self) -> int: ...

    # -- forward passes ----------------------------------------------------------------------
    @abstractmethod
    def symbolic(self, x: list[sp.Expr], p: dict[str, np.ndarray]) -> list[sp.Expr]:
        """One sample: ``x`` is a list of sympy expressions, ``p`` maps block name -> symbol array."""

    def symbolic_batch(self, hs: list[list[sp.Expr]], p: dict[str, np.ndarray]) -> list[list[sp.Expr]]:
        """A batch of symbolic samples.  The default applies :meth:`symbolic` to each; batch-coupled
        layers override it (their output mixes the samples)."""
        return [self.symbolic(h, p) for h in hs]

    @abstractmethod
    def forward(self, X: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
        """A batch, rows are samples (numpy reference implementation)."""

    @abstractmethod
    def backward(self, X: np.ndarray, p: dict[str, np.ndarray], dY: np.ndarray,
                 grads: dict[str, np.ndarray]) -> np.ndarray:
        """Accumulate parameter gradients into ``grads``; return dL/dX."""

    # -- kernels (numba source the code generator splices into the model's module) -----------------
    def kernel_defs(self, ctx) -> str:
        """Module-level numba functions this layer needs (e.g. its scalar σ, σ').  ``ctx`` carries the
        printers (``ctx.scalar_function``, ``ctx.KernelPrinter``) so the model layer imports nothing
        from :mod:`noether.kernels`."""
        return ""

    @abstractmethod
    def kernel_forward(self, ctx, X: str, Z: str) -> list[str]:
        """Lines computing the batch output array ``Z`` from ``X`` (both (N, ·) arrays)."""

    @abstractmethod
    def kernel_backward(self, ctx, X: str, dZ: str, dX: str, need_dx: bool) -> list[str]:
        """Lines writing parameter gradients into ``grad`` and (if need_dx) dL/dX into ``dX``."""

    # -- index axes (model/axes.py): what the structured search may relabel and shrink ---------
    def axes(self, ins, ctx):
        """(output axes, {block name: per-dimension axis tuples}).  The default claims no
        relabelling symmetry: the input's axes and every index of the layer are fixed labels."""
        for a in ins:
            a.fix()
        return [ctx.fixed(self.out_dim())], {b.name: [(ctx.fixed(d),) for d in b.shape] for b in self.blocks()}

    def describe(self) -> str:
        return self.type

    def to_spec(self) -> dict:
        return {"type": self.type}
