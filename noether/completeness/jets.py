"""Numeric machinery for law counting: the network as a chain of stages, nilpotent jets, and
batched evaluation of gradient fields and of right-nested Lie brackets at a point.

A *jet* is a dict ``{mask: array}`` over bitmasks of nilpotent symbols ε_0, ε_1, … with
ε_i² = 0 (absent masks are zero).  Evaluating a field at θ₀ + ε·a and reading the ε part gives
the exact directional derivative DF(θ₀)[a] (no finite differences, only float rounding), so a
bracket [X, Y] = DY[X] − DX[Y] nested k deep costs O(k) field evaluations in a jet algebra with
k symbols.  For ReLU-type activations the activation pattern is fixed by the real part, so the
fields are exactly the polynomial fields of the activation region (Marcotte, Gribonval, Peyré,
NeurIPS 2023, "Abide by the law and follow the flow", §3–4).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import factorial

import numpy as np
import sympy as sp

from ..errors import SpecError
from ..model.catalogue import z as _z
from ..model.activation import Activation
from ..model.linear import Linear

#: sympy atoms that make an activation piecewise, with its kink at z = 0 (relu, abs, leaky …).
_PIECEWISE = (sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.Piecewise, sp.sign)


def _heaviside(x, h0=0.5):
    return np.heaviside(x, h0)


@lru_cache(maxsize=64)
def activation_derivatives(expr: sp.Expr, order: int):
    """Numeric σ, σ', …, σ^(order) (DiracDelta terms dropped: they vanish off the kink) and a
    flag per order saying whether that derivative is identically zero."""
    fns, zero = [], []
    for j in range(order + 1):
        d = sp.diff(expr, _z, j) if j else expr
        d = d.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S(0))
        d = sp.simplify(d) if d.has(sp.Heaviside) and j >= 2 else d
        zero.append(d == 0)
        f = sp.lambdify(_z, d, modules=[{"Heaviside": _heaviside}, "numpy", "scipy"])
        fns.append(f)
    return tuple(fns), tuple(zero)


def is_piecewise(expr: sp.Expr) -> bool:
    return any(expr.has(a) for a in _PIECEWISE)


def local_polynomial(expr: sp.Expr, sign: int) -> list[sp.Rational] | None:
    """Coefficients (low to high) of σ on the side ``sign`` of 0, or None if not a polynomial."""
    s = sp.Symbol("s_pos", positive=True) if sign > 0 else sp.Symbol("s_neg", negative=True)
    e = sp.simplify(expr.subs(_z, s))
    if not e.is_polynomial(s):
        return None
    p = sp.Poly(e, s)
    if not all(c.is_rational for c in p.all_coeffs()):
        return None
    return [sp.Rational(c) for c in reversed(p.all_coeffs())]


# ---------------------------------------------------------------------------------------------
@dataclass
class LinStage:
    index: int          # 1-based parametrised-layer index (names W<index>, b<index>)
    out: int
    inp: int
    w_off: int
    b_off: int | None


@dataclass
class ActStage:
    expr: sp.Expr
    name: str
    after: int          # index of the linear layer whose units it acts on


class Net:
    """A model reduced to what the counter needs; raises SpecError for unsupported layers."""

    generic = False

    @staticmethod
    def unsupported(model) -> int | None:
        """Index of the first layer that is neither linear nor an elementwise activation, or None."""
        for i, layer in enumerate(model.layers):
            if not (isinstance(layer, Linear) or (isinstance(layer, Activation) and getattr(layer, "elementwise", False))):
                return i
        return None

    def __init__(self, model, purpose: str = "'count'"):

        self.model = model
        self.D = model.D
        self.d_in = model.input
        self.k = model.output
        self.stages: list = []
        last = 0
        for i, layer in enumerate(model.layers):
            if isinstance(layer, Linear):
                b_off = model.offsets[layer.b] if layer.bias else None
                self.stages.append(LinStage(layer.index, layer.out, layer.in_dim,
                                            model.offsets[layer.W], b_off))
                last = layer.index
            elif isinstance(layer, Activation) and getattr(layer, "elementwise", False):
                self.stages.append(ActStage(layer.expr, layer.name, last))
            else:
                raise SpecError(f"layer[{i}].type", f"{purpose} supports linear and elementwise "
                                f"activation layers only, not {layer.type!r} ({layer.describe()})")
        self.piecewise = any(isinstance(s, ActStage) and is_piecewise(s.expr) for s in self.stages)

    @property
    def polynomial_pieces(self) -> bool:
        """True when every activation is a polynomial on each side of 0 (exact mode possible)."""
        return all(local_polynomial(s.expr, +1) is not None and local_polynomial(s.expr, -1) is not None
                   for s in self.stages if isinstance(s, ActStage))

    # -- plain float64 passes ------------------------------------------------------------------
    def preactivations(self, theta: np.ndarray, X: np.ndarray) -> list[tuple[ActStage, np.ndarray]]:
        """(stage, z) for every activation stage, z of shape (P, width)."""
        out, h = [], X
        for s in self.stages:
            if isinstance(s, LinStage):
                W = theta[s.w_off:s.w_off + s.out * s.inp].reshape(s.out, s.inp)
                h = h @ W.T + (theta[s.b_off:s.b_off + s.out] if s.b_off is not None else 0.0)
            else:
                out.append((s, h))
                fns, _ = activation_derivatives(s.expr, 0)
                h = np.broadcast_to(np.asarray(fns[0](h), float), h.shape)
        return out

    def jacobian(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Rows ∇_θ f_k(θ, x_p) for every sample p and output k: shape (P·k, D)."""
        P = X.shape[0]
        hs, zs, h = [], [], X
        for s in self.stages:
            hs.append(h)
            if isinstance(s, LinStage):
                W = theta[s.w_off:s.w_off + s.out * s.inp].reshape(s.out, s.inp)
                h = h @ W.T + (theta[s.b_off:s.b_off + s.out] if s.b_off is not None else 0.0)
                zs.append(None)
            else:
                fns, _ = activation_derivatives(s.expr, 1)
                zs.append(h)
                h = np.broadcast_to(np.asarray(fns[0](h), float), h.shape)
        J = np.zeros((P, self.k, self.D))
        G = np.broadcast_to(np.eye(self.k), (P, self.k, self.k)).copy()
        for s, hin, zin in zip(reversed(self.stages), reversed(hs), reversed(zs)):
            if isinstance(s, LinStage):
                W = theta[s.w_off:s.w_off + s.out * s.inp].reshape(s.out, s.inp)
                J[:, :, s.w_off:s.w_off + s.out * s.inp] = np.einsum("pko,pi->pkoi", G, hin).reshape(P, self.k, -1)
                if s.b_off is not None:
                    J[:, :, s.b_off:s.b_off + s.out] = G
                G = G @ W
            else:
                fns, _ = activation_derivatives(s.expr, 1)
                G = G * np.broadcast_to(np.asarray(fns[1](zin), float), zin.shape)[:, None, :]
        return J.reshape(P * self.k, self.D)

    # -- jet passes ----------------------------------------------------------------------------
    def grad_field(self, theta: dict, rho: np.ndarray, X: np.ndarray) -> dict:
        """Jet of X_ρ(θ̃) = ∇_θ Σ_p ρ_p·f(θ̃, x_p), batched: θ̃ masks -> (N, D), ρ (N, P, k)."""
        N = rho.shape[0]
        hs, zs = [], []
        h = {0: np.broadcast_to(X, (N,) + X.shape)}
        for s in self.stages:
            hs.append(h)
            if isinstance(s, LinStage):
                W = {m: v[:, s.w_off:s.w_off + s.out * s.inp].reshape(N, s.out, s.inp) for m, v in theta.items()}
                z = jmul(h, W, "npi,noi->npo")
                if s.b_off is not None:
                    for m, v in theta.items():
                        bb = v[:, None, s.b_off:s.b_off + s.out]
                        z[m] = z[m] + bb if m in z else np.broadcast_to(bb, z[0].shape).copy()
                zs.append(None)
                h = z
            else:
                zs.append(h)
                h = jfunc(s.expr, 0, h)
        grads = {m: np.zeros((N, self.D)) for m in theta}
        G = {0: rho}
        for s, hin, zin in zip(reversed(self.stages), reversed(hs), reversed(zs)):
            if isinstance(s, LinStage):
                gW = jmul(G, hin, "npo,npi->noi")
                for m, v in gW.items():
                    grads.setdefault(m, np.zeros((N, self.D)))[:, s.w_off:s.w_off + s.out * s.inp] += v.reshape(N, -1)
                if s.b_off is not None:
                    for m, v in G.items():
                        grads.setdefault(m, np.zeros((N, self.D)))[:, s.b_off:s.b_off + s.out] += v.sum(axis=1)
                W = {m: v[:, s.w_off:s.w_off + s.out * s.inp].reshape(N, s.out, s.inp) for m, v in theta.items()}
                G = jmul(G, W, "npo,noi->npi")
            else:
                G = jmul(G, jfunc(s.expr, 1, zin), None)
        return grads


# -- jet algebra -----------------------------------------------------------------------------
def jmul(a: dict, b: dict, spec: str | None) -> dict:
    """Product of two jets; ``spec`` an einsum for the array product (None: elementwise)."""
    out: dict = {}
    for ma, va in a.items():
        for mb, vb in b.items():
            if ma & mb:
                continue
            v = va * vb if spec is None else np.einsum(spec, va, vb, optimize=True)
            m = ma | mb
            out[m] = out[m] + v if m in out else v
    return out


def jfunc(expr: sp.Expr, deriv: int, zj: dict) -> dict:
    """σ^(deriv)(z̃) by its (finite, nilpotent) Taylor series about the real part."""
    nbits = max(zj).bit_length() if zj else 0  # n^j = 0 once j exceeds the symbols in use
    order = nbits
    fns, zero = activation_derivatives(expr, deriv + order)
    z0 = zj[0]
    out = {0: np.broadcast_to(np.asarray(fns[deriv](z0), float), z0.shape)}
    n = {m: v for m, v in zj.items() if m}
    if not n:
        return out
    # the highest order that contributes: σ^(deriv+j) ≡ 0 beyond it (ReLU: σ'' = 0), so the
    # powers of the nilpotent part past it are never formed
    top = max((j for j in range(1, nbits + 1) if not zero[deriv + j]), default=0)
    power = {0: 1.0}
    for j in range(1, top + 1):
        power = jmul(power, n, None)
        if not power:
            break
        if zero[deriv + j]:
            continue
        c = np.asarray(fns[deriv + j](z0), float) / factorial(j)
        for m, v in power.items():
            out[m] = out[m] + c * v if m in out else c * v
    return out


def embed_direction(theta: dict, a: dict, bit: int) -> dict:
    """θ̃ + ε_bit · ã (ã a jet over lower bits)."""
    out = dict(theta)
    flag = 1 << bit
    for m, v in a.items():
        out[m | flag] = out[m | flag] + v if (m | flag) in out else v
    return out


def split(j: dict, bit: int) -> tuple[dict, dict]:
    """A jet over bits ≤ bit as (part without ε_bit, coefficient of ε_bit)."""
    flag = 1 << bit
    lo = {m: v for m, v in j.items() if not m & flag}
    hi = {m & ~flag: v for m, v in j.items() if m & flag}
    return lo, hi


def jsub(a: dict, b: dict) -> dict:
    out = dict(a)
    for m, v in b.items():
        out[m] = out[m] - v if m in out else -v
    return out


def _bracket_terms(field, coeffs: list, point: dict, bit: int) -> tuple[dict, dict]:
    """(DY[X], DX[Y]) for X = F_{c0} and Y the nested bracket of the remaining coefficients."""
    a = field(coeffs[0], point)
    b_ext = nested_bracket(field, coeffs[1:], embed_direction(point, a, bit), bit + 1)
    b, db_a = split(b_ext, bit)
    _, da_b = split(field(coeffs[0], embed_direction(point, b, bit)), bit)
    return db_a, da_b


def nested_bracket_scaled(field, coeffs: list, point: dict) -> tuple[np.ndarray, np.ndarray]:
    """Real part of :func:`nested_bracket` and, per row, the cancellation scale
    ‖DY[X]‖ + ‖DX[Y]‖ of its outermost difference: a bracket that vanishes exactly is float
    rounding of that size, so its norm relative to the scale (not to itself) says whether it
    is zero.  With one coefficient (a plain field) the scale is the row norm."""
    if len(coeffs) == 1:
        v = field(coeffs[0], point)[0]
        return v, np.linalg.norm(v, axis=1)
    db_a, da_b = _bracket_terms(field, coeffs, point, 0)
    n = point[0].shape
    x, y = db_a.get(0, np.zeros(n)), da_b.get(0, np.zeros(n))
    return x - y, np.linalg.norm(x, axis=1) + np.linalg.norm(y, axis=1)


def nested_bracket(field, coeffs: list, point: dict, bit: int = 0) -> dict:
    """Jet of the right-nested bracket [F_{c0}, [F_{c1}, … F_{ck}]] at ``point``.

    ``field(c, point)`` evaluates the generator with coefficients c (batched) at a jet point;
    ``bit`` is the first free nilpotent symbol.  Convention [X, Y] = J_Y X − J_X Y.
    """
    if len(coeffs) == 1:
        return field(coeffs[0], point)
    return jsub(*_bracket_terms(field, coeffs, point, bit))
