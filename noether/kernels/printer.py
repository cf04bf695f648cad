"""Print sympy expressions as numba-compilable Python (scalar functions and indexed loops)."""

from __future__ import annotations

import inspect
import re
import textwrap
from contextvars import ContextVar

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from . import primitives


class KernelPrinter(PythonCodePrinter):
    """math-module Python that numba compiles; piecewise pieces become conditional expressions.

    ``symbol_map`` maps sympy Symbols to code (e.g. a parameter to ``theta[17]``), and
    ``indexed`` maps an IndexedBase name to (offset, shape) in the flat parameter vector.
    """

    def __init__(self, symbol_map=None, indexed=None, vec="theta"):
        super().__init__({"fully_qualified_modules": True, "standard": "python3"})
        self.symbol_map = symbol_map or {}
        self.indexed = indexed or {}
        self.vec = vec
        self.accessed: list[str] = []     # parameter names printed as raw offsets, for a comment

    def _access(self, name: str) -> None:
        if name not in self.accessed:
            self.accessed.append(name)

    def names(self, limit: int = 160) -> str:
        """``  # W2[k, i], b1[i]``: the parameters the lines printed since the last call read at raw
        offsets of the flat vector (empty if none); resets the record."""
        out, self.accessed = ", ".join(self.accessed), []
        return f"  # {out if len(out) <= limit else out[:limit - 3] + '...'}" if out else ""

    def _print_Symbol(self, expr):
        if expr in self.symbol_map:
            code = self.symbol_map[expr]
            if code.startswith(self.vec + "["):
                self._access(str(expr))
            return code
        return super()._print_Symbol(expr)

    def _print_Indexed(self, expr):
        off, shape = self.indexed[str(expr.base)]
        flat, stride = [], 1
        for idx, n in reversed(list(zip(expr.indices, shape))):
            flat.append(f"({self._print(idx)})*{stride}" if stride != 1 else f"({self._print(idx)})")
            stride *= n
        self._access(f"{expr.base}[{', '.join(self._print(i) for i in expr.indices)}]")
        return f"{self.vec}[{off} + {' + '.join(reversed(flat))}]"

    def _print_Heaviside(self, expr):
        x = self._print(expr.args[0])
        h0 = self._print(expr.args[1]) if len(expr.args) > 1 else "0.5"
        return f"(1.0 if ({x}) > 0 else ({h0} if ({x}) == 0 else 0.0))"

    def _print_sign(self, expr):
        x = self._print(expr.args[0])
        return f"(1.0 if ({x}) > 0 else (-1.0 if ({x}) < 0 else 0.0))"

    def _print_DiracDelta(self, expr):
        return "0.0"  # zero almost everywhere; the kernels never sit on a kink by construction

    def _fold(self, fn: str, expr) -> str:
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = f"{fn}({out}, {self._print(a)})"
        return out

    def _print_Max(self, expr):
        return self._fold("max", expr)

    def _print_Min(self, expr):
        return self._fold("min", expr)

    def _print_Rational(self, expr):
        return f"({expr.p}/{expr.q})" if expr.q != 1 else f"{float(expr.p)!r}"

    def _print_Integer(self, expr):
        return f"{float(expr.p)!r}"


def scalar_function(name: str, expr: sp.Expr, var: sp.Symbol) -> str:
    """``name(z)``, inlined into its callers in numba IR: a σ or σ′ is called from the one elementwise
    loop that applies it, and compiled as a function of its own it cost a dispatcher (0.05-0.09 s
    each on the quickstart MLP)."""
    body = KernelPrinter({var: "z"}).doprint(expr)
    return f'@njit(cache=True, inline="always")\ndef {name}(z):\n    return {body}\n'


def _terms(expr):
    return sp.Add.make_args(sp.expand(expr))


def _degree(term) -> int:
    deg = 0
    for f in sp.Mul.make_args(term):
        base, e = f.as_base_exp()
        if isinstance(base, sp.Sum):
            deg += _degree(base.function) * int(e)
        elif isinstance(base, sp.Indexed) or base in _SYMS.get():
            deg += int(e)
    return deg


_SYMS: ContextVar[frozenset] = ContextVar("_SYMS", default=frozenset())


def split_degrees(expr, symbols=()) -> dict[int, sp.Expr]:
    """Homogeneous parts of a charge, by degree in the parameters (Indexed or ``symbols``)."""
    token = _SYMS.set(frozenset(symbols))
    try:
        out: dict[int, sp.Expr] = {}
        for t in _terms(expr):
            d = _degree(t)
            out[d] = out.get(d, 0) + t
        return out
    finally:
        _SYMS.reset(token)


def _named(expr, limit: int = 160) -> str:
    """The expression with its parameter names (``W2[k, i]``), for a comment beside raw offsets."""
    text = " ".join(str(expr).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def family_function(name: str, expr: sp.Expr, free: list, sizes: list, indexed: dict, absolute=False) -> str:
    """A loop over the free unit indices writing one value per instance to ``out[start + n]``.

    ``free`` are the index symbols (i) or (i, j); pairs run over i < j, in the order the
    derivation lists its explicit charges.
    """
    pr = KernelPrinter(indexed=indexed, vec="x")
    lines = ["@njit(cache=True)", f"def {name}(x, out, start):", "    n = start"]
    ind = "    "
    h = sizes[0]
    lines.append(f"{ind}for {free[0]} in range({h}):")
    ind += "    "
    if len(free) == 2:
        lines.append(f"{ind}for {free[1]} in range({free[0]} + 1, {h}):")
        ind += "    "
    parts = []
    for t, term in enumerate(_terms(expr)):
        coef, rest = term.as_independent(sp.Sum, sp.Indexed, as_Add=False)
        sums = [f for f in sp.Mul.make_args(rest) if isinstance(f, sp.Sum)]
        if len(sums) == 1 and rest == sums[0]:
            s = sums[0]
            (k, a, b), = s.limits
            before = list(pr.accessed)
            summand = pr.doprint(s.function)
            pr.accessed = before          # named in the sum line's own comment
            if absolute:
                summand = f"abs({summand})"
            lines.append(f"{ind}s{t} = 0.0")
            lines.append(f"{ind}for {k} in range({int(a)}, {int(b) + 1}):")
            lines.append(f"{ind}    s{t} += {summand}  # {_named(s.function)}")
            c = pr.doprint(abs(coef) if absolute else coef)
            parts.append(f"{c} * s{t}")
        else:
            code = pr.doprint(term)
            parts.append(f"abs({code})" if absolute else code)
    lines.append(f"{ind}# {name} = {_named(expr)}")
    lines.append(f"{ind}out[n] = " + (" + ".join(parts) if parts else "0.0") + pr.names())
    lines.append(f"{ind}n += 1")
    lines.append("    return n")
    return "\n".join(lines) + "\n"


def explicit_function(name: str, exprs: list[sp.Expr], symbols, absolute=False) -> str:
    """One function evaluating a list of explicit polynomials in the parameter symbols."""
    pr = KernelPrinter({s: f"x[{n}]" for n, s in enumerate(symbols)})
    lines = ["@njit(cache=True)", f"def {name}(x, out, start):"]
    for n, e in enumerate(exprs):
        if absolute:
            code = " + ".join(f"abs({pr.doprint(t)})" for t in _terms(e)) or "0.0"
        else:
            code = pr.doprint(e) if e != 0 else "0.0"
        lines.append(f"    out[start + {n}] = {code}" + pr.names())
    lines.append(f"    return start + {len(exprs)}")
    return "\n".join(lines) + "\n"


def _primitive_names() -> set[str]:
    """Names the hand-written primitive modules define (functions and constants, not their imports)."""
    out = set()
    for name, obj in vars(primitives).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        mod = getattr(getattr(obj, "py_func", obj), "__module__", None)
        if (mod or "").startswith("noether.kernels.primitives") or isinstance(obj, (int, float)):
            out.add(name)
    return out


def primitives_import(source: str) -> str:
    """An explicit import of the primitives ``source`` uses (instead of a star import)."""
    used = sorted(_primitive_names() & set(re.findall(r"\b[A-Za-z_]\w*\b", source)))
    if not used:
        return ""
    body = textwrap.fill(", ".join(used), 100, initial_indent="    ", subsequent_indent="    ")
    return f"from noether.kernels.primitives import (  # hand-written primitives this module calls\n{body},\n)\n"
