"""Exact evaluation of sympy expressions and their θ-gradients modulo a prime (forward-mode AD).

Used by the exact global search (docs/theory.md §2: null spaces of (1) at random points, Schwartz–
Zippel style).  Every node carries (real value, value mod p, ∂/∂θ mod p).  Real values (float64)
only pick the branch of piecewise functions (Max, Abs, Heaviside, Piecewise) at a generic point;
arithmetic is exact in GF(p):

- rational operations exactly; ``s**(k/2)`` through a square root of s mod p (a sample is
  rejected when s is not a square mod p).  An identity P + Q√s = 0 with √s irrational over
  Q(θ, x) forces P = Q = 0, so it holds for either root: the choice of root is immaterial;
- ``exp(u)``: an independent random value per distinct argument.  The exponentials of affine
  functions that are Q-linearly independent modulo constants are algebraically independent
  over Q(θ, x) (Ax 1971, "On Schanuel's conjectures"), so an identity in (θ, x, e^u) holds
  for independent values of e^u; ``tanh`` is rewritten through exp first.

Other transcendental functions (erf, log, …) raise :class:`NotExact`.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

# Primes below 2^31 (products of two residues fit in int64), ≡ 1 mod 120 so that 2, 3, 5 (and
# hence √d_k for small d_k) are squares mod p.
P1 = 2147482921
P2 = 2147482801          # a second, independent check


class NotExact(Exception):
    """The expression uses a function the modular evaluator cannot treat exactly."""


class Rejected(Exception):
    """This sample point is unusable (non-square radicand, division by zero mod p, kink)."""


def sqrt_mod(a: int, p: int) -> int:
    """A square root of a mod p (Tonelli–Shanks), or Rejected if a is not a square."""
    a %= p
    if a == 0:
        raise Rejected("zero radicand")
    if pow(a, (p - 1) // 2, p) != 1:
        raise Rejected("not a square mod p")
    q, s = p - 1, 0
    while q % 2 == 0:
        q //= 2
        s += 1
    z = 2
    while pow(z, (p - 1) // 2, p) != p - 1:
        z += 1
    m, c, t, r = s, pow(z, q, p), pow(a, q, p), pow(a, (q + 1) // 2, p)
    while t != 1:
        i, t2 = 0, t
        while t2 != 1:
            t2 = t2 * t2 % p
            i += 1
        b = pow(c, 1 << (m - i - 1), p)
        m, c, t, r = i, b * b % p, t * b * b % p, r * b % p
    return min(r, p - r)


def _inv(a: int, p: int) -> int:
    a %= p
    if a == 0:
        raise Rejected("division by zero mod p")
    return pow(a, p - 2, p)


class ModEvaluator:
    """Evaluate expressions at one point: ``values`` maps Symbol -> (float, Fraction-like int/den)."""

    def __init__(self, p: int, D: int, env: dict, rng: np.random.Generator, kink_margin: float = 1e-9):
        self.p, self.D, self.env, self.rng = p, D, env, rng
        self.memo: dict = {}
        self.exps: dict = {}
        self.margin = kink_margin

    # node = (float value, int value mod p, tangent (D,) int64 or None for zero)
    def ev(self, e):
        hit = self.memo.get(e)
        if hit is not None:
            return hit
        out = self._ev(e)
        self.memo[e] = out
        return out

    def _const(self, fval, mval):
        return (float(fval), int(mval) % self.p, None)

    def _add(self, a, b):
        t = a[2] if b[2] is None else (b[2] if a[2] is None else (a[2] + b[2]) % self.p)
        return (a[0] + b[0], (a[1] + b[1]) % self.p, t)

    def _scale_t(self, t, k):
        return None if t is None else (t * (k % self.p)) % self.p

    def _mul(self, a, b):
        p = self.p
        ta = self._scale_t(a[2], b[1])
        tb = self._scale_t(b[2], a[1])
        t = ta if tb is None else (tb if ta is None else (ta + tb) % p)
        return (a[0] * b[0], a[1] * b[1] % p, t)

    def _chain(self, a, fval, mval, dm):
        """f(a) with f(a) = (fval, mval) and f'(a) = dm mod p."""
        return (fval, mval % self.p, self._scale_t(a[2], dm))

    def _ev(self, e):
        p = self.p
        if e.is_Symbol:
            if e not in self.env:
                raise NotExact(f"free symbol {e} has no value")
            return self.env[e]
        if e.is_Integer:
            return self._const(int(e), int(e))
        if e.is_Rational:
            return self._const(float(e), int(e.p) * _inv(int(e.q), p))
        if e.is_Float:
            r = sp.nsimplify(e, rational=True)
            return self._const(float(e), int(r.p) * _inv(int(r.q), p))
        if e.is_Add:
            acc = self.ev(e.args[0])
            for a in e.args[1:]:
                acc = self._add(acc, self.ev(a))
            return acc
        if e.is_Mul:
            acc = self.ev(e.args[0])
            for a in e.args[1:]:
                acc = self._mul(acc, self.ev(a))
            return acc
        if e.is_Pow:
            return self._pow(e)
        f = e.func
        if f is sp.exp:
            a = self.ev(e.args[0])
            key = e.args[0]
            if key not in self.exps:
                self.exps[key] = int(self.rng.integers(2, p - 1))
            m = self.exps[key]
            return self._chain(a, _fexp(a[0]), m, m)
        if f is sp.tanh:
            return self.ev(e.rewrite(sp.exp))
        if f in (sp.Max, sp.Min):
            vals = [self.ev(a) for a in e.args]
            fl = [v[0] for v in vals]
            k = int(np.argmax(fl) if f is sp.Max else np.argmin(fl))
            srt = sorted(fl)
            gap = (srt[-1] - srt[-2]) if f is sp.Max else (srt[1] - srt[0])
            if len(fl) > 1 and not abs(gap) >= self.margin:   # (nan: overflowed float)
                raise Rejected("at a kink")
            return vals[k]
        if f is sp.Abs:
            a = self.ev(e.args[0])
            if not abs(a[0]) >= self.margin:
                raise Rejected("at a kink")
            s = 1 if a[0] > 0 else -1
            return (abs(a[0]), s * a[1] % p, self._scale_t(a[2], s))
        if f is sp.sign:
            a = self.ev(e.args[0])
            if not abs(a[0]) >= self.margin:
                raise Rejected("at a kink")
            s = 1 if a[0] > 0 else -1
            return self._const(s, s)
        if f is sp.Heaviside:
            a = self.ev(e.args[0])
            if not abs(a[0]) >= self.margin:
                raise Rejected("at a kink")
            return self._const(1 if a[0] > 0 else 0, 1 if a[0] > 0 else 0)
        if isinstance(e, sp.Piecewise):
            for expr, cond in e.args:
                if cond is sp.true or self._cond(cond):
                    return self.ev(expr)
            raise Rejected("no piecewise branch")
        raise NotExact(f"function {f.__name__} has no exact modular evaluation")

    def _cond(self, c) -> bool:
        if isinstance(c, (sp.And, sp.Or)):
            vals = [self._cond(a) for a in c.args]
            return all(vals) if isinstance(c, sp.And) else any(vals)
        if isinstance(c, sp.Not):
            return not self._cond(c.args[0])
        if isinstance(c, sp.core.relational.Relational):
            d = self.ev(c.lhs - c.rhs)[0]
            if not abs(d) >= self.margin:
                raise Rejected("at a kink")
            return {">": d > 0, ">=": d > 0, "<": d < 0, "<=": d < 0}.get(c.rel_op, None) \
                if c.rel_op in (">", ">=", "<", "<=") else _raise(NotExact(f"condition {c}"))
        raise NotExact(f"condition {c}")

    def _pow(self, e):
        p = self.p
        base, ex = e.args
        b = self.ev(base)
        if not ex.is_Rational:
            raise NotExact(f"power with exponent {ex}")
        if ex.q == 1:
            n = int(ex)
            m = pow(b[1], n, p) if n >= 0 else pow(_inv(b[1], p), -n, p)
            dm = n * (pow(b[1], n - 1, p) if n >= 1 else pow(_inv(b[1], p), 1 - n, p))
            return self._chain(b, _fpow(b[0], n), m, dm)
        if ex.q == 2:
            if b[0] <= 0:
                raise Rejected("negative radicand")
            r = sqrt_mod(b[1], p)
            n = int(ex.p)                               # result r^n, derivative (n/2) r^(n-2)
            m = pow(r, n, p) if n >= 0 else pow(_inv(r, p), -n, p)
            k = n - 2
            rk = pow(r, k, p) if k >= 0 else pow(_inv(r, p), -k, p)
            dm = n * _inv(2, p) * rk
            return self._chain(b, _fpow(b[0], float(ex)), m, dm)
        raise NotExact(f"power with exponent {ex}")


def _fexp(v: float) -> float:
    """exp of the float shadow value (used only to pick branches): inf on overflow."""
    return math.exp(v) if v < 700 else math.inf


def _fpow(v: float, n) -> float:
    """Power of a float shadow value; nan where float64 fails (a branch there is Rejected)."""
    try:
        return float(v) ** n
    except (ZeroDivisionError, OverflowError):
        return math.nan


def _raise(exc):
    raise exc
