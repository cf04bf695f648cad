"""Allow-list parser: user strings to sympy expressions, never through ``eval``.

The string is parsed by :func:`ast.parse` (which only builds a syntax tree) and the tree is
walked node by node.  Only numbers, the declared variable names, arithmetic operators,
comparisons (for ``Piecewise``) and an allow-list of functions are accepted; anything else is a
:class:`~noether.errors.SpecError` naming the field.  Float literals become exact rationals
(``0.2`` -> ``1/5``) so that the symbolic layer stays exact.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

import sympy as sp

from .errors import SpecError

#: Functions a user expression may call.  Extend here, nowhere else.
FUNCTIONS: dict[str, object] = {
    "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt,
    "tanh": sp.tanh, "sinh": sp.sinh, "cosh": sp.cosh,
    "sin": sp.sin, "cos": sp.cos, "atan": sp.atan, "asinh": sp.asinh,
    "erf": sp.erf, "erfc": sp.erfc,
    "Abs": sp.Abs, "abs": sp.Abs, "sign": sp.sign,
    "Max": sp.Max, "Min": sp.Min, "max": sp.Max, "min": sp.Min,
    "Heaviside": sp.Heaviside, "Piecewise": sp.Piecewise,
}
CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "E": sp.E, "True": sp.true, "False": sp.false}

_BINOPS = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a ** b,
}
_CMPS = {ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge}
_MAX_LEN = 2000
_MAX_EXPONENT = 64


def parse_expr(text: str, variables: Iterable[str] | Mapping[str, sp.Symbol], field: str) -> sp.Expr:
    """Parse ``text`` into a sympy expression in ``variables`` (names or name->Symbol)."""
    if not isinstance(text, str):
        raise SpecError(field, f"expected an expression string, got {type(text).__name__}")
    if len(text) > _MAX_LEN:
        raise SpecError(field, f"expression longer than {_MAX_LEN} characters")
    if isinstance(variables, Mapping):
        names = dict(variables)
    else:
        names = {v: sp.Symbol(v, real=True) for v in variables}
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise SpecError(field, f"cannot parse {text!r}; accepted: numbers, {_accepted(names)}, "
                        "+ - * / ** and the functions " + ", ".join(sorted(FUNCTIONS))) from None
    return _Builder(names, field, text).visit(tree.body)


def _accepted(names: Mapping[str, object]) -> str:
    """The accepted variables, one entry per parameter block (``W1_0_0..W1_1023_2 (3072)``), so a
    message stays one short line at any width."""
    if not names:
        return "no variables"
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(n.split("_", 1)[0] if "_" in n else n, []).append(n)
    parts = [g[0] if len(g) == 1 else f"{g[0]}..{g[-1]} ({len(g)})" for g in groups.values()]
    return "the variables " + ", ".join(parts)


class _Builder:
    def __init__(self, names: Mapping[str, sp.Symbol], field: str, text: str):
        self.names, self.field, self.text = names, field, text

    def fail(self, what: str):
        raise SpecError(self.field, f"{what} in {self.text!r}; accepted: numbers, "
                        f"{_accepted(self.names)}, + - * / ** and the functions "
                        + ", ".join(sorted(FUNCTIONS)))

    def visit(self, node):  # noqa: C901 - one branch per accepted node type
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool):
                return sp.true if v else sp.false
            if isinstance(v, int):
                return sp.Integer(v)
            if isinstance(v, float):
                if v != v or v in (float("inf"), float("-inf")):
                    self.fail("non-finite number")
                return sp.Rational(repr(v))
            self.fail(f"constant {v!r} is not allowed")
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            self.fail(f"unknown name {node.id!r}")
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                self.fail(f"operator {type(node.op).__name__} is not allowed (use ** for powers)")
            left, right = self.visit(node.left), self.visit(node.right)
            if isinstance(node.op, ast.Pow) and right.is_Number and abs(right) > _MAX_EXPONENT:
                self.fail(f"exponent larger than {_MAX_EXPONENT}")
            return op(left, right)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.visit(node.operand)
            if isinstance(node.op, ast.UAdd):
                return self.visit(node.operand)
            self.fail(f"operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _CMPS:
                self.fail("only single comparisons < <= > >= are allowed")
            return _CMPS[type(node.ops[0])](self.visit(node.left), self.visit(node.comparators[0]))
        if isinstance(node, ast.Tuple):
            return tuple(self.visit(e) for e in node.elts)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                # name the offending piece in the user's words: a disallowed function inside the
                # callee (``__import__('os').system``) first, else the attribute or the callee itself
                inner = [c.func.id for c in ast.walk(node.func) if isinstance(c, ast.Call)
                         and isinstance(c.func, ast.Name) and c.func.id not in FUNCTIONS]
                if inner:
                    self.fail(f"function {inner[0]!r} is not allowed")
                if isinstance(node.func, ast.Attribute):
                    self.fail(f"attribute access '.{node.func.attr}' is not allowed")
                self.fail(f"calling {ast.unparse(node.func)[:40]!r} is not allowed")
            if node.func.id not in FUNCTIONS:
                self.fail(f"function {node.func.id!r} is not allowed")
            if node.keywords:
                self.fail("keyword arguments are not allowed")
            args = [self.visit(a) for a in node.args]
            try:
                return FUNCTIONS[node.func.id](*args)
            except (TypeError, ValueError) as exc:
                self.fail(f"bad arguments to {node.func.id} ({exc})")
        self.fail(f"syntax {type(node).__name__} is not allowed")


def postorder(roots, children=lambda e: getattr(e, "args", ())):
    """Every node of the DAG below ``roots`` once, children before parents (iterative, so deep
    expressions do not hit the recursion limit); ``children(e)`` gives a node's arguments."""
    seen: set = set()
    for root in roots:
        stack = [root]
        while stack:
            e = stack[-1]
            if e in seen:
                stack.pop()
                continue
            todo = [a for a in children(e) if a not in seen]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            seen.add(e)
            yield e
