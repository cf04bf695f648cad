"""``residual``: the block y = x + F(x), F a list of inner layers (He et al. 2016).

Spec: ``[[layer]] type = "residual"`` with an inner ``[[layer.layer]]`` array of tables; Python:
``Residual([Linear(3), Activation("relu"), Linear(2)])``.  The inner parametrised layers take
consecutive model indices (W1, b1, W2, b2, ...), so their symbols are the ones they would have
without the block; F's output size must equal its input size.
"""

from __future__ import annotations

from ..errors import SpecError
from .fields import check_keys
from .layer import Layer
from .axes import AxisCtx


class Residual(Layer):
    type = "residual"

    def __init__(self, inner: list[Layer], field: str = "residual"):
        if not isinstance(inner, (list, tuple)) or not inner or not all(isinstance(l, Layer) for l in inner):
            raise SpecError(f"{field}.layer", "must be a non-empty list of inner layers")
        self.inner, self.field, self.extra_indices = list(inner), field, 0

    @classmethod
    def from_spec(cls, table, field):
        check_keys(table, {"type", "layer"}, field)
        tables = table.get("layer")
        if not isinstance(tables, list) or not tables:
            raise SpecError(f"{field}.layer", "missing; give the inner layers as [[layer.layer]] tables")
        inner = []
        for i, t in enumerate(tables):
            f = f"{field}.layer[{i}]"
            if not isinstance(t, dict):
                raise SpecError(f, "must be a table")
            typ = t.get("type")
            if typ not in Layer.registry:
                raise SpecError(f"{f}.type", f"unknown layer type {typ!r}; accepted: " + ", ".join(sorted(Layer.registry)))
            inner.append(Layer.registry[typ].from_spec(t, f))
        return cls(inner, field)

    @property
    def batch_coupled(self) -> bool:
        return any(l.batch_coupled for l in self.inner)

    def set_seq(self, seq):
        for l in self.inner:
            l.set_seq(seq)

    def bind(self, in_dim, index):
        super().bind(in_dim, index)
        d, j = in_dim, (index or 0)
        used = 0
        for k, l in enumerate(self.inner):
            l.bind(d, 0)
            has = bool(l.blocks())
            l.bind(d, j if has else None)
            if has:
                j += 1 + l.extra_indices
                used += 1 + l.extra_indices
            if l.out_dim() != d:
                last = k
            d = l.out_dim()
        if d != in_dim:   # name the last inner layer that declares an output size
            sized = [k for k, l in enumerate(self.inner) if l.declares_out]
            last = sized[-1] if sized else last
            raise SpecError(f"{self.field}.layer[{last}].out", f"the inner layers end with size {d}, but "
                            f"x + F(x) needs the input size {in_dim}")
        self.extra_indices = max(used - 1, 0)

    def blocks(self):
        return [b for l in self.inner for b in l.blocks()]

    def axes(self, ins, ctx):
        d, out = list(ins), {}
        for j, l in enumerate(self.inner):
            d, bl = l.axes(d, AxisCtx(ctx.path + ("layer", j)))
            out.update(bl)
        ctx.same(ins, d)           # x + F(x) ties F's output units to its input units
        return list(ins), out

    def out_dim(self):
        return self.in_dim

    # -- forward passes ----------------------------------------------------------------------
    def symbolic(self, x, p):
        h = list(x)
        for l in self.inner:
            h = l.symbolic(h, p)
        return [a + b for a, b in zip(x, h)]

    def symbolic_batch(self, hs, p):
        out = hs
        for l in self.inner:
            out = l.symbolic_batch(out, p)
        return [[a + b for a, b in zip(x, h)] for x, h in zip(hs, out)]

    def _acts(self, X, p):
        acts = [X]
        for l in self.inner:
            acts.append(l.forward(acts[-1], p))
        return acts

    def forward(self, X, p):
        return X + self._acts(X, p)[-1]

    def backward(self, X, p, dY, grads):
        acts = self._acts(X, p)
        d = dY
        for l, Xin in zip(reversed(self.inner), reversed(acts[:-1])):
            d = l.backward(Xin, p, d, grads)
        return dY + d

    # -- kernels: the inner layers' code, with their activations in fresh arrays ----------------
    def kernel_defs(self, ctx):
        return "\n".join(d for d in (l.kernel_defs(ctx) for l in self.inner) if d)

    def kernel_forward(self, ctx, X, Z):
        k = ctx.uid(self)
        lines = [f"R{k}_0 = {X}"]
        for i, l in enumerate(self.inner):
            lines.append(f"R{k}_{i + 1} = np.zeros(({X}.shape[0], {l.out_dim()}))")
            lines += l.kernel_forward(ctx, f"R{k}_{i}", f"R{k}_{i + 1}")
        m = len(self.inner)
        lines += [f"for r{k} in range({X}.shape[0]):", f"    for c{k} in range({self.in_dim}):",
                  f"        {Z}[r{k}, c{k}] = {X}[r{k}, c{k}] + R{k}_{m}[r{k}, c{k}]"]
        return lines

    def kernel_backward(self, ctx, X, dZ, dX, need_dx):
        k, m = ctx.uid(self), len(self.inner)
        lines = [f"G{k}_{m} = {dZ}"]
        for i in range(m - 1, -1, -1):
            l = self.inner[i]
            lines.append(f"G{k}_{i} = np.zeros(({X}.shape[0], {l.in_dim}))")
            lines += l.kernel_backward(ctx, f"R{k}_{i}", f"G{k}_{i + 1}", f"G{k}_{i}", need_dx or i > 0)
        if need_dx:
            lines += [f"for r{k} in range({X}.shape[0]):", f"    for c{k} in range({self.in_dim}):",
                      f"        {dX}[r{k}, c{k}] = {dZ}[r{k}, c{k}] + G{k}_0[r{k}, c{k}]"]
        return lines

    def describe(self):
        return "residual(" + " -> ".join(l.describe() for l in self.inner) + ")"

    def to_spec(self):
        return {"type": self.type, "layer": [l.to_spec() for l in self.inner]}
