"""Index axes of a model: which parameter indices run over the same units.

Every dimension of every parameter block is a product of *axes* (a hidden width, a head's d_k,
a conv's kernel taps, ...).  An axis is **free** when relabelling its units (in every block and
in the data at once) maps the model to itself, as for the hidden units of an MLP, the channels of
a conv, or the d_k rows of one head; then the set of symmetry generators is invariant under
that relabelling, and the structured search (:mod:`noether.derive.structured.search`) may derive it at a
small width and lift it (Maron et al. 2019, the orbit basis of permutation-equivariant maps).
Everything else is **fixed**: its index values are labels (conv taps, sequence positions, and
any axis a layer does not declare).  Free axes carry their *setters*: the spec keys that size
them, so that a reduced copy of the model can be built.

Layers declare their axes in ``Layer.axes(ins, ctx)``; the default declares nothing free, which
is always correct (it only costs scaling).
"""

from __future__ import annotations

import itertools

_ids = itertools.count()


class Axis:
    """One index axis (union-find node: axes tied by a layer, e.g. x + F(x), are merged)."""

    def __init__(self, size: int, free: bool, setters=()):
        self.size, self._free, self.setters, self.parent = int(size), bool(free), list(setters), None
        self.id = next(_ids)

    def root(self) -> Axis:
        a = self
        while a.parent is not None:
            a = a.parent
        return a

    @property
    def free(self) -> bool:
        return self.root()._free

    def fix(self) -> None:
        self.root()._free = False

    @property
    def key(self) -> tuple:
        """A name stable across rebuilds of the model: the first setter (free axes only)."""
        return min(self.root().setters)


def unify(a: Axis, b: Axis) -> None:
    ra, rb = a.root(), b.root()
    if ra is rb:
        return
    if ra.size != rb.size:
        ra._free = rb._free = False
        return
    rb.parent = ra
    ra._free = ra._free and rb._free
    ra.setters += rb.setters


class AxisCtx:
    """What a layer's ``axes`` gets: its spec path, and factories for new axes."""

    def __init__(self, path: tuple):
        self.path = path

    def new(self, size: int, key: str) -> Axis:
        """A free axis sized by this layer's spec key ``key``."""
        return Axis(size, True, [(self.path, key)])

    def fixed(self, size: int) -> Axis:
        return Axis(size, False)

    def also_sets(self, axis: Axis, key: str) -> None:
        """This layer's spec key ``key`` must follow ``axis`` when it is resized."""
        axis.root().setters.append((self.path, key))

    def split(self, ins: list[Axis], sizes: tuple[int, ...]) -> list[Axis]:
        """The input layout as axes of ``sizes``; when it is laid out otherwise, fixed axes."""
        real = [s for s in sizes if s != 1]
        have = [a for a in ins if a.size != 1]
        if [a.size for a in have] == real:
            it = iter(have)
            return [next(it) if s != 1 else self.fixed(1) for s in sizes]
        for a in ins:
            a.fix()
        return [self.fixed(s) for s in sizes]

    def same(self, ins: list[Axis], outs: list[Axis]) -> None:
        """Tie an output layout to the input layout (x + F(x)), or fix both."""
        if [a.size for a in ins] == [a.size for a in outs]:
            for a, b in zip(ins, outs):
                unify(a, b)
        else:
            for a in list(ins) + list(outs):
                a.fix()


def model_axes(model) -> tuple[dict[str, list[tuple[Axis, ...]]], list[Axis]]:
    """({block name: per-dimension axis tuples}, output layout) of a bound model."""
    blocks, layouts = model_axes_io(model)
    return blocks, layouts[-1]


def model_axes_io(model) -> tuple[dict[str, list[tuple[Axis, ...]]], list[list[Axis]]]:
    """({block name: per-dimension axis tuples}, [input layout, then each top-level layer's
    output layout]) of a bound model."""
    if model.seq:
        ins = [Axis(model.seq, False), Axis(model.features, True, [((), "input")])]
    else:
        ins = [Axis(model.input, True, [((), "input")])]
    layouts = [list(ins)]
    blocks: dict[str, list[tuple[Axis, ...]]] = {}
    for i, layer in enumerate(model.layers):
        ins, bl = layer.axes(ins, AxisCtx(("layer", i)))
        blocks.update(bl)
        layouts.append(list(ins))
    return blocks, layouts


def axis_name(key) -> str:
    """(("layer", 0), "out") -> "layer[0].out"; ((), "input") -> "input"."""
    path, k = key
    parts = [f"{path[i]}[{path[i + 1]}]" for i in range(0, len(path), 2)]
    return ".".join(parts + [k])
