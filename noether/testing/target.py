"""What a claim is tested against: a noether ``Model`` or a user's plain numpy loss.

A user loss is ``loss(params: dict[str, ndarray], X, Y) -> float``; its gradient is either given
(``grad(params, X, Y) -> dict``) or taken by central finite differences.  Internally parameters
are one flat float64 vector, blocks in order, row-major (the same layout as ``Model``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import SpecError
from ..model import Model

#: Central-difference step relative to max(1, |θ_i|): h = ε^{1/3} balances the O(h²) truncation
#: against the O(ε/h) rounding error, giving ~ε^{2/3} ≈ 4e-11 relative accuracy for smooth losses.
FD_STEP = float(np.finfo(float).eps) ** (1 / 3)


@dataclass
class Layout:
    names: list[str]
    shapes: list[tuple[int, ...]]

    @classmethod
    def of_model(cls, model) -> Layout:
        return cls([b.name for b in model.blocks], [tuple(b.shape) for b in model.blocks])

    @classmethod
    def of_params(cls, params: dict, field: str = "params") -> Layout:
        if not isinstance(params, dict) or not params:
            raise SpecError(field, "must be a non-empty dict of name -> numpy array")
        names, shapes = [], []
        for k, v in params.items():
            a = np.asarray(v)
            if not isinstance(k, str) or not k.isidentifier():
                raise SpecError(field, f"parameter names must be identifiers, got {k!r}")
            if not np.issubdtype(a.dtype, np.number):
                raise SpecError(f"{field}[{k!r}]", "must be a numeric array")
            names.append(k)
            shapes.append(tuple(a.shape))
        return cls(names, shapes)

    @property
    def sizes(self) -> list[int]:
        return [int(np.prod(s)) if s else 1 for s in self.shapes]

    @property
    def D(self) -> int:
        return sum(self.sizes)

    @property
    def blocks(self) -> dict[str, tuple[int, ...]]:
        return dict(zip(self.names, self.shapes))

    def flatten(self, params: dict) -> np.ndarray:
        missing = [n for n in self.names if n not in params]
        if missing:
            raise SpecError("params", f"missing block {missing[0]!r}; expected " + ", ".join(self.names))
        return np.concatenate([np.asarray(params[n], dtype=float).reshape(-1) for n in self.names]) \
            if self.names else np.zeros(0)

    def unflatten(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        out, off = {}, 0
        for n, s, k in zip(self.names, self.shapes, self.sizes):
            out[n] = np.array(theta[off:off + k], dtype=float).reshape(s)
            off += k
        return out

    def format(self, theta: np.ndarray, prefix: str = "  ") -> str:
        with np.printoptions(precision=6, suppress=True, linewidth=100):
            return "\n".join(f"{prefix}{n} = " + np.array2string(v, prefix=prefix + " " * (len(n) + 3))
                             for n, v in self.unflatten(theta).items())


class Target:
    """A loss with gradient on a flat parameter vector."""

    def __init__(self, layout: Layout, loss: Callable, grad: Callable | None, exact_grad: bool,
                 model=None, as_dict: bool = True):
        self.layout, self._loss, self._grad = layout, loss, grad
        self.exact_grad, self.model, self.as_dict = exact_grad, model, as_dict

    def loss(self, theta, X, Y) -> float:
        return float(self._loss(theta, X, Y))

    def grad(self, theta, X, Y) -> np.ndarray:
        if self._grad is not None:
            return np.asarray(self._grad(theta, X, Y), dtype=float)
        return fd_grad(lambda th: self._loss(th, X, Y), theta)

    def grad_error(self, theta, X, Y) -> np.ndarray:
        """Per-entry error bound of :meth:`grad`: 0 for an exact gradient.  For central
        differences, 10 x (½|D₊ − D₋| + 2ε(1+|L|)/h): the one-sided slopes D± bound the error when a
        kink lies within the stencil (it is at most half the slope jump there), and for a smooth
        loss ½|D₊ − D₋| ≈ ½h|L''| dominates the O(h²) truncation of the central difference."""
        if self._grad is not None:
            return np.zeros(self.layout.D)
        theta = np.asarray(theta, dtype=float)
        L0 = self.loss(theta, X, Y)
        out = np.empty_like(theta)
        eps = float(np.finfo(float).eps)
        for i in range(theta.shape[0]):
            h = FD_STEP * max(1.0, abs(theta[i]))
            tp, tm = theta.copy(), theta.copy()
            tp[i] += h
            tm[i] -= h
            dp = (self.loss(tp, X, Y) - L0) / (tp[i] - theta[i])
            dm = (L0 - self.loss(tm, X, Y)) / (theta[i] - tm[i])
            out[i] = 10.0 * (0.5 * abs(dp - dm) + 2 * eps * (1.0 + abs(L0)) / h)
        return out

    def user(self, theta):
        """Parameters in the form the user gave them (dict, or a flat vector for a Model)."""
        return self.layout.unflatten(theta) if self.as_dict else np.array(theta, dtype=float)

    def from_user(self, params) -> np.ndarray:
        if isinstance(params, dict):
            return self.layout.flatten(params)
        theta = np.asarray(params, dtype=float).reshape(-1)
        if theta.shape[0] != self.layout.D:
            raise SpecError("params", f"expected {self.layout.D} parameters, got {theta.shape[0]}")
        return theta


def fd_grad(f: Callable[[np.ndarray], float], theta: np.ndarray) -> np.ndarray:
    """Central finite differences, step ``FD_STEP * max(1, |θ_i|)``."""
    theta = np.asarray(theta, dtype=float)
    g = np.empty_like(theta)
    for i in range(theta.shape[0]):
        h = FD_STEP * max(1.0, abs(theta[i]))
        tp, tm = theta.copy(), theta.copy()
        tp[i] += h
        tm[i] -= h
        g[i] = (float(f(tp)) - float(f(tm))) / (tp[i] - tm[i])
    return g


def as_target(f, params, grad=None) -> tuple[Target, np.ndarray]:
    """(Target, flat θ) for a noether Model or a user callable ``loss(params, X, Y)``."""
    if isinstance(f, Model):
        layout = Layout.of_model(f)
        tgt = Target(layout, lambda th, X, Y: f.loss_and_grad(th, X, Y)[0],
                     lambda th, X, Y: f.loss_and_grad(th, X, Y)[1], True, model=f,
                     as_dict=isinstance(params, dict))
        return tgt, tgt.from_user(params)
    if not callable(f):
        raise SpecError("loss", "must be a noether Model or a callable loss(params, X, Y)")
    layout = Layout.of_params(params)

    def loss(th, X, Y):
        return f(layout.unflatten(th), X, Y)

    def user_grad(th, X, Y):
        return layout.flatten(grad(layout.unflatten(th), X, Y))

    tgt = Target(layout, loss, user_grad if grad is not None else None, grad is not None, as_dict=True)
    return tgt, layout.flatten(params)
