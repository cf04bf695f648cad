"""The Model: an input size, a list of layers, a loss.  Built from TOML or from Python.

Stage one of the pipeline (spec -> **model** -> derivation -> kernels -> run -> report).
Parameters are flattened in layer order, block order, row-major; symbol names follow
``<tensor><layer>_<i>_<j>`` with the 1-based index of the layer among parametrised layers.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from functools import cached_property
from pathlib import Path

import numpy as np
import sympy as sp

from ..errors import SpecError
from .fields import check_keys, positive_int
from .layer import Block, Layer
from .loss import Loss

TOP_KEYS = {"input", "loss", "layer", "name", "seq"}


class Model:
    """A network description.  ``Model(input=3, layers=[Linear(4), Activation("relu"), Linear(2)])``."""

    def __init__(self, input: int, layers: list[Layer], loss: str = "mse", name: str = "model",
                 seq: int | None = None):
        if isinstance(input, bool) or not isinstance(input, int) or input <= 0:
            raise SpecError("input", f"must be a positive integer, got {input!r}")
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq <= 0):
            raise SpecError("seq", f"must be a positive integer (tokens per sample), got {seq!r}")
        # with seq = T a sample is a T × input matrix, flattened row-major: self.input = T·input
        self.seq, self.features = seq, input
        input = input * seq if seq else input
        if loss not in Loss.registry:
            raise SpecError("loss", f"unknown loss {loss!r}; accepted: " + ", ".join(sorted(Loss.registry)))
        if not layers:
            raise SpecError("layer", "at least one layer is required")
        self.input, self.layers, self.loss_name, self.name = input, list(layers), loss, name
        self.loss = Loss.registry[loss]()
        dim, index = input, 0
        for layer in self.layers:
            layer.set_seq(seq)
            has = bool(_blocks_probe(layer, dim))
            if has:
                index += 1
            layer.bind(dim, index if has else None)
            index += layer.extra_indices   # blocks with several parametrised layers
            dim = layer.out_dim()
        self.output = dim
        if not self.loss.sensitivity(dim):   # e.g. softmax over one logit: every parameter is a symmetry
            raise SpecError("loss", f"{loss} on {dim} output(s) does not depend on the model's output; "
                            "give the last layer more outputs or use another loss")
        if index == 0:
            raise SpecError("layer", "the model has no parameters; add a linear layer")

    # -- construction from a spec --------------------------------------------------------------
    @classmethod
    def from_dict(cls, spec: dict, name: str = "model") -> Model:
        if not isinstance(spec, dict):
            raise SpecError("spec", "must be a TOML table")
        check_keys(spec, TOP_KEYS, "spec")
        inp = positive_int(spec, "input", "spec")
        tables = spec.get("layer")
        if not isinstance(tables, list) or not tables:
            raise SpecError("layer", "missing; give at least one [[layer]] table")
        layers = []
        for i, t in enumerate(tables):
            field = f"layer[{i}]"
            if not isinstance(t, dict):
                raise SpecError(field, "must be a table")
            typ = t.get("type")
            if typ not in Layer.registry:
                raise SpecError(f"{field}.type", f"unknown layer type {typ!r}; accepted: "
                                + ", ".join(sorted(Layer.registry)))
            layers.append(Layer.registry[typ].from_spec(t, field))
        loss = spec.get("loss", "mse")
        if not isinstance(loss, str):
            raise SpecError("loss", "must be a string")
        seq = positive_int(spec, "seq", "spec") if "seq" in spec else None
        return cls(inp, layers, loss, spec.get("name", name), seq)

    @classmethod
    def from_toml(cls, text: str, name: str = "model") -> Model:
        try:
            spec = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError("spec", f"invalid TOML ({exc})") from None
        return cls.from_dict(spec, name)

    @classmethod
    def load(cls, path: str | Path) -> Model:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise SpecError("SPEC", f"cannot read {str(p)!r} ({exc.strerror})") from None
        return cls.from_toml(text, p.stem)

    def to_dict(self) -> dict:
        out = {"input": self.features, "loss": self.loss_name, "layer": [l.to_spec() for l in self.layers]}
        if self.seq:
            out["seq"] = self.seq
        return out

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    # -- parameters -----------------------------------------------------------------------------
    @cached_property
    def blocks(self) -> list[Block]:
        return [b for layer in self.layers for b in layer.blocks()]

    @cached_property
    def offsets(self) -> dict[str, int]:
        out, off = {}, 0
        for b in self.blocks:
            out[b.name] = off
            off += b.size
        return out

    def all_layers(self):
        """Every layer, including those inside containers (a residual block's inner layers)."""
        for layer in self.layers:
            yield layer
            yield from layer.inner

    @property
    def D(self) -> int:
        return sum(b.size for b in self.blocks)

    @cached_property
    def parameters(self) -> list[str]:
        return [n for b in self.blocks for n in b.symbol_names()]

    @cached_property
    def symbols(self) -> list[sp.Symbol]:
        return [sp.Symbol(n, real=True) for n in self.parameters]

    def index(self, name: str) -> int:
        return self._index[name]

    @cached_property
    def _index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.parameters)}

    def unflatten(self, theta) -> dict[str, np.ndarray]:
        """Views of ``theta`` per block (works for numeric and object arrays)."""
        theta = np.asarray(theta)
        return {b.name: theta[self.offsets[b.name]:self.offsets[b.name] + b.size].reshape(b.shape)
                for b in self.blocks}

    def init(self, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """He-style random parameters: each block entry ~ N(0, scale²/fan_in)."""
        theta = np.empty(self.D)
        for layer in self.layers:
            for b in layer.blocks():
                fan_in = layer.in_dim if layer.in_dim else 1
                theta[self.offsets[b.name]:self.offsets[b.name] + b.size] = (
                    rng.standard_normal(b.size) * scale / np.sqrt(fan_in))
        return theta

    # -- forward passes ---------------------------------------------------------------------------
    def symbolic_output(self, x: list[sp.Expr], theta_syms=None) -> list[sp.Expr]:
        p = self.unflatten(np.array(theta_syms if theta_syms is not None else self.symbols, dtype=object))
        h = list(x)
        for layer in self.layers:
            h = layer.symbolic(h, p)
        return h

    def forward(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        p = self.unflatten(theta)
        for layer in self.layers:
            X = layer.forward(X, p)
        return X

    def loss_and_grad(self, theta: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        """Reference numpy implementation (the numba kernels are checked against it)."""
        p = self.unflatten(theta)
        acts = [X]
        for layer in self.layers:
            acts.append(layer.forward(acts[-1], p))
        F = acts[-1]
        grad = np.zeros(self.D)
        g = self.unflatten(grad)
        dY = self.loss.grad(F, Y)
        for layer, Xin in zip(reversed(self.layers), reversed(acts[:-1])):
            dY = layer.backward(Xin, p, dY, g)
        return self.loss.value(F, Y), grad

    def describe(self) -> str:
        inp = f"{self.seq}x{self.features}" if self.seq else f"{self.input}"
        return f"{self.name}: input {inp} -> " + " -> ".join(l.describe() for l in self.layers) \
            + f", loss {self.loss_name}, D = {self.D}"


def _blocks_probe(layer: Layer, dim: int) -> list[Block]:
    layer.bind(dim, 0)
    return layer.blocks()
