"""Block-level expressions for claims: ``2*W1``, ``W1[0,:]``, ``W1[[1,0],:]``, ``sum(W2[:,0]**2)``.

A user string is first read by :func:`ast.parse` (which only builds a tree).  Subscripts of a
parameter block (integers, ``:`` slices with integer bounds, integer lists) and ``sum(...)`` calls
are replaced by placeholder names; the remaining text is handed to the allow-list parser
:func:`noether.expr.parse_expr`.  Nothing is evaluated as code.  Every array term is resolved to
an object array of the model's parameter symbols, so an expression becomes, element by element,
an exact sympy expression in the parameter symbols (and the free scalars, e.g. ``t``).
"""

from __future__ import annotations

import ast

import numpy as np
import sympy as sp

from ..errors import SpecError
from ..expr import parse_expr

_MAX_LEN = 4000


class BlockContext:
    """Parameter blocks as object arrays of sympy symbols, plus named free scalars."""

    def __init__(self, blocks: dict[str, tuple[int, ...]], scalars=("t",)):
        self.shapes = dict(blocks)
        self.arrays: dict[str, np.ndarray] = {}
        self.parameters: list[str] = []
        self.symbols: list[sp.Symbol] = []
        for name, shape in blocks.items():
            arr = np.empty(shape, dtype=object)
            for idx in np.ndindex(*shape):
                s = sp.Symbol(name + "".join(f"_{i}" for i in idx), real=True)
                arr[idx] = s
                self.parameters.append(s.name)
                self.symbols.append(s)
            self.arrays[name] = arr
        self.by_name = {s.name: s for s in self.symbols}
        self.scalars = {n: sp.Symbol(n, real=True) for n in scalars}
        clash = set(self.scalars) & (set(self.arrays) | set(self.by_name))
        if clash:
            raise SpecError("parameters", f"block or parameter named {sorted(clash)[0]!r} clashes with "
                            "a free scalar; rename it")

    @classmethod
    def of_model(cls, model, scalars=("t",)) -> BlockContext:
        return cls({b.name: tuple(b.shape) for b in model.blocks}, scalars)

    def accepted(self) -> str:
        return ("blocks " + ", ".join(self.arrays) + "; parameter symbols such as "
                + (self.parameters[0] if self.parameters else "-")
                + ("; scalars " + ", ".join(self.scalars) if self.scalars else ""))


def _literal_index(node, field: str, text: str):
    """An index built only from integer literals: int, -int, a:b:c, [i, j, ...], tuples of them."""
    def fail():
        raise SpecError(field, f"unsupported subscript in {text!r}; use integers, ':' slices with "
                        "integer bounds, or integer lists such as [1,0,2]")

    def intval(n):
        if isinstance(n, ast.Constant) and isinstance(n.value, int) and not isinstance(n.value, bool):
            return n.value
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -intval(n.operand)
        fail()

    def one(n):
        if isinstance(n, ast.Slice):
            return slice(*(None if p is None else intval(p) for p in (n.lower, n.upper, n.step)))
        if isinstance(n, ast.List):
            return [intval(e) for e in n.elts]
        return intval(n)

    if isinstance(node, ast.Tuple):
        return tuple(one(e) for e in node.elts)
    return one(node)


class _Rewriter(ast.NodeTransformer):
    """Replace block subscripts / whole blocks / sum(...) by placeholder names."""

    def __init__(self, ctx: BlockContext, field: str, text: str):
        self.ctx, self.field, self.text = ctx, field, text
        self.leaves: dict[str, np.ndarray] = {}

    def _leaf(self, arr: np.ndarray) -> ast.Name:
        name = f"_a{len(self.leaves)}"
        self.leaves[name] = arr
        return ast.Name(id=name, ctx=ast.Load())

    def visit_Subscript(self, node):
        if not (isinstance(node.value, ast.Name) and node.value.id in self.ctx.arrays):
            raise SpecError(self.field, f"only parameter blocks can be indexed in {self.text!r}; "
                            f"accepted: {self.ctx.accepted()}")
        arr = self.ctx.arrays[node.value.id]
        idx = _literal_index(node.slice, self.field, self.text)
        try:
            sub = arr[idx]
        except (IndexError, TypeError, ValueError) as exc:
            raise SpecError(self.field, f"bad index into {node.value.id} of shape {arr.shape} "
                            f"in {self.text!r} ({exc})") from None
        return self._leaf(np.asarray(sub, dtype=object))

    def visit_Name(self, node):
        if node.id in self.ctx.arrays:
            return self._leaf(self.ctx.arrays[node.id])
        return node

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id == "sum":
            if len(node.args) != 1 or node.keywords:
                raise SpecError(self.field, f"sum takes one argument in {self.text!r}")
            inner = ArrayExpr.from_tree(node.args[0], self.ctx, self.field, self.text)
            return self._leaf(np.array(sp.Add(*inner.elements().ravel().tolist()), dtype=object))
        return self.generic_visit(node)


class ArrayExpr:
    """An elementwise expression over block slices: ``elements()`` is an object array of sympy."""

    def __init__(self, expr: sp.Expr, leaves: dict[str, np.ndarray], ctx: BlockContext, text: str, field: str):
        self.expr, self.leaves, self.ctx, self.text, self.field = expr, leaves, ctx, text, field
        try:
            self.shape = np.broadcast_shapes(*(a.shape for a in leaves.values())) if leaves else ()
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in leaves.values())
            raise SpecError(field, f"array terms of shapes {shapes} do not broadcast in {text!r}") from None

    @classmethod
    def parse(cls, text: str, ctx: BlockContext, field: str) -> ArrayExpr:
        if not isinstance(text, str) or not text.strip():
            raise SpecError(field, f"expected an expression; accepted: numbers, {ctx.accepted()}, "
                            "+ - * / **, sum(...) and the functions of noether.expr")
        if len(text) > _MAX_LEN:
            raise SpecError(field, f"expression longer than {_MAX_LEN} characters")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            raise SpecError(field, f"cannot parse {text!r}; accepted: numbers, {ctx.accepted()}, "
                            "+ - * / **, sum(...)") from None
        return cls.from_tree(tree.body, ctx, field, text)

    @classmethod
    def from_tree(cls, node, ctx: BlockContext, field: str, text: str) -> ArrayExpr:
        rw = _Rewriter(ctx, field, text)
        new = rw.visit(node)
        src = ast.unparse(new)
        variables = {**ctx.by_name, **ctx.scalars, **{k: sp.Symbol(k) for k in rw.leaves}}
        expr = parse_expr(src, variables, field)   # the allow-list parser has the last word
        if not isinstance(expr, sp.Expr):
            raise SpecError(field, f"{text!r} is not an arithmetic expression")
        return cls(expr, rw.leaves, ctx, text, field)

    def elements(self) -> np.ndarray:
        """Object array (shape ``self.shape``) of sympy expressions in parameter symbols and scalars."""
        out = np.empty(self.shape, dtype=object)
        syms = {k: sp.Symbol(k) for k in self.leaves}
        bc = {k: np.broadcast_to(a, self.shape) for k, a in self.leaves.items()}
        for idx in np.ndindex(*self.shape):
            out[idx] = self.expr.xreplace({syms[k]: bc[k][idx] for k in self.leaves}) if self.leaves else self.expr
        return out

    def scalar(self) -> sp.Expr:
        if self.shape != ():
            raise SpecError(self.field, f"{self.text!r} has shape {self.shape}; a scalar is required "
                            "(wrap array terms in sum(...))")
        return self.elements()[()]
