"""The permutation groups alignment searches over: the derived full symmetric groups of the
model's internal axes (:func:`noether.derive.discrete.derive_discrete`), one permutation per
axis, or per index of the axis they act along (the d_k coordinates of each head)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..derive.discrete import AxisSites, permute


@dataclass
class PermSet:
    model: object
    shapes: dict
    groups: list                      # DiscreteGroup, kind permutation, all units
    perms: list[np.ndarray]           # per group: (copies, n), copies = per.size or 1

    @classmethod
    def identity(cls, model, shapes, groups) -> PermSet:
        return cls(model, shapes, groups, [np.tile(np.arange(g.axis.size), (g.per.size if g.per else 1, 1))
                                           for g in groups])

    def apply(self, theta, skip: int | None = None, perms=None) -> np.ndarray:
        """θ with every group's current permutation applied (except group ``skip``); a copy."""
        theta = np.array(theta, dtype=float, copy=True)
        for k, (g, P) in enumerate(zip(self.groups, perms if perms is not None else self.perms)):
            if k != skip:
                for v, p in enumerate(P):
                    permute(self.model, self.shapes, theta, g.axis, p, g.per, v, inplace=True)
        return theta

    def names(self) -> list[str]:
        return [g.axis.name + (f"[{g.per.name}={v}]" if g.per else "")
                for g in self.groups for v in range(g.per.size if g.per else 1)]

    def to_json(self) -> dict:
        return dict(zip(self.names(), [p.tolist() for P in self.perms for p in P]))

    def inverse(self) -> list[np.ndarray]:
        return [np.argsort(P, axis=1) for P in self.perms]


def same_block_sites(axis: AxisSites, block: str, slot: int) -> AxisSites:
    """The other positions of ``axis`` in ``block`` (a block carrying an axis twice, P W Pᵀ)."""
    return AxisSites(axis.name, axis.size, axis.free, [(b, s) for b, s in axis.sites if b == block and s != slot])


def slab(model, shapes, theta, block, slot, per, value) -> np.ndarray:
    """Block ``block`` of θ as an (n, rest) matrix with axis slot ``slot`` first (for per = value)."""
    arr = model.unflatten(theta)[block].reshape(shapes[block])
    if per is not None:
        cs = next(s for b, s in per.sites if b == block)
        arr = np.take(arr, value, axis=cs)
        slot -= cs < slot
    return np.moveaxis(arr, slot, 0).reshape(arr.shape[slot], -1)


def slab_index(model, shapes, block, slot, per, value) -> np.ndarray:
    """The positions in θ of :func:`slab`'s entries (same layout, integer)."""
    return slab(model, shapes, np.arange(model.D, dtype=float), block, slot, per, value).astype(np.intp)


def put_slab(model, shapes, theta, block, slot, per, value, M) -> None:
    """Write ``M`` (the layout of :func:`slab`) into θ in place."""
    theta[slab_index(model, shapes, block, slot, per, value)] = M
