"""User-defined layers: a sympy forward function of (x, params) and a short shape declaration.

    layer = user_layer("scaled", blocks={"a": (2,), "M": (2, 2)}, out=2,
                       forward=lambda x, p: [p["a"][i] * (p["M"][i, 0] * x[0] + p["M"][i, 1] * x[1])
                                            for i in range(2)])

``blocks`` maps tensor names to shapes (symbols ``<name><l>_<i>_<j>``); ``out`` is the output
size (an int, or a function of the input size); ``forward(x, p)`` gets a list of sympy inputs and
a dict of sympy symbol arrays and returns the output list.  Everything else (derivation, charges,
kernels, verification) comes from :class:`~noether.model.symlayer.SymbolicLayer`.  The
declaration is checked when the layer is bound: wrong output length, unknown names or
non-sympy results raise a one-line SpecError.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import SpecError
from .layer import Block
from .symlayer import SymbolicLayer


class UserLayer(SymbolicLayer):
    """An instance of a user-declared layer (not registered for TOML: it carries Python code)."""

    declares_out = True

    def __init__(self, name, blocks, out, forward, in_dim=None):
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(f"{name}.name", "must be an identifier")
        for b, shape in blocks.items():
            if not (isinstance(b, str) and b.isidentifier()) or not all(isinstance(s, int) and s > 0 for s in shape):
                raise SpecError(f"{name}.blocks.{b}", "must map an identifier to a tuple of positive ints")
        self.name, self.decl, self.out, self.fn, self.in_decl = name, dict(blocks), out, forward, in_dim
        self.type = name

    @classmethod
    def from_spec(cls, table, field):
        raise SpecError(f"{field}.type", "user layers are declared in Python with noether.model.user_layer")

    def bind(self, in_dim, index):
        super().bind(in_dim, index)
        if self.in_decl is not None and in_dim != self.in_decl:
            raise SpecError(f"{self.name}.in_dim", f"declared {self.in_decl}, but the input has size {in_dim}")
        n_out = self.out(in_dim) if callable(self.out) else self.out
        if not isinstance(n_out, int) or n_out <= 0:
            raise SpecError(f"{self.name}.out", f"must be a positive int, got {n_out!r}")
        self._out = n_out
        if index:      # check the declaration against the forward function
            x = [sp.Symbol(f"u_{j}", real=True) for j in range(in_dim)]
            p = {b.name: np.array([sp.Symbol(n, real=True) for n in b.symbol_names()], dtype=object).reshape(b.shape)
                 for b in self.blocks()}
            try:
                y = self.symbolic(x, p)
            except (IndexError, KeyError) as exc:
                raise SpecError(f"{self.name}.forward", f"does not match the declared shapes ({type(exc).__name__}: {exc})") from None
            if len(y) != n_out:
                raise SpecError(f"{self.name}.out", f"declared {n_out}, but forward returns {len(y)} outputs")
            used = set().union(*(sp.sympify(e).free_symbols for e in y))
            stray = used - set(x) - {s for arr in p.values() for s in arr.ravel()}
            if stray:
                raise SpecError(f"{self.name}.forward", "uses undeclared symbols " + ", ".join(sorted(map(str, stray))))

    def blocks(self):
        return [Block(f"{b}{self.index}", tuple(shape)) for b, shape in self.decl.items()]

    def out_dim(self):
        return self._out

    def symbolic(self, x, p):
        local = {b: p[f"{b}{self.index}"] for b in self.decl}
        return [sp.sympify(e) for e in self.fn(list(x), local)]

    def describe(self):
        return f"user layer {self.name}"

    def to_spec(self):
        return {"type": self.name, "blocks": {k: list(v) for k, v in self.decl.items()}, "out": self._out}


def user_layer(name: str, blocks: dict, out, forward, in_dim: int | None = None) -> UserLayer:
    """Declare a layer from its sympy forward function (see module docstring)."""
    return UserLayer(name, blocks, out, forward, in_dim)
