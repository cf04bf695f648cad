"""A layer defined by its sympy forward pass alone: numpy and numba code are derived from it.

Subclasses give ``blocks``, ``out_dim`` and ``symbolic(x, p)`` (one sample).  The numpy
reference comes from ``sympy.lambdify`` of the outputs and their exact Jacobians (a subclass may
override it with hand-written numpy); the numba kernels print the same expressions, after common
subexpression elimination, unrolled over the layer's inputs and parameters (meant for the small
layers the derivation works with).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import sympy as sp

from .layer import Layer


def _heaviside(x, h0=0.5):
    return np.heaviside(x, h0)


_MODULES = [{"Heaviside": _heaviside}, "numpy", "scipy"]


class SymbolicLayer(Layer):
    """Base for layers whose numeric passes are generated from ``symbolic``."""

    @cached_property
    def _sym(self):
        u = [sp.Symbol(f"u_{j}", real=True) for j in range(self.in_dim)]
        p, psyms = {}, []
        for b in self.blocks():
            arr = np.array([sp.Symbol(n, real=True) for n in b.symbol_names()], dtype=object).reshape(b.shape)
            p[b.name] = arr
            psyms += list(arr.ravel())
        y = [sp.sympify(e) for e in self.symbolic(u, p)]
        dx = [[sp.diff(e, v) for v in u] for e in y]
        dp = [[sp.diff(e, v) for v in psyms] for e in y]
        return u, psyms, y, dx, dp

    @cached_property
    def _np(self):
        u, ps, y, dx, dp = self._sym
        args = u + ps
        return (sp.lambdify(args, y, modules=_MODULES), sp.lambdify(args, dx, modules=_MODULES),
                sp.lambdify(args, dp, modules=_MODULES))

    def _args(self, X, p):
        cols = [X[:, j] for j in range(self.in_dim)]
        N = X.shape[0]
        return cols + [np.full(N, float(v)) for b in self.blocks() for v in np.asarray(p[b.name]).ravel()]

    @staticmethod
    def _stack(vals, N):
        """The lambdified values (each a scalar where an entry does not depend on the sample, else
        an array of N) as one (len(vals), N) array; assignment broadcasts the scalars."""
        out = np.empty((len(vals), N))
        for i, v in enumerate(vals):
            out[i] = v
        return out

    def forward(self, X, p):
        f, _, _ = self._np
        return self._stack(f(*self._args(X, p)), X.shape[0]).T.copy()

    def backward(self, X, p, dY, grads):
        _, fdx, fdp = self._np
        a, N = self._args(X, p), X.shape[0]
        Jx = np.stack([self._stack(row, N) for row in fdx(*a)])        # (out, in, N)
        Jp = np.stack([self._stack(row, N) for row in fdp(*a)]) if self.blocks() else None
        if Jp is not None:
            g = np.einsum("no,opn->p", dY, Jp)
            off = 0
            for b in self.blocks():
                grads[b.name] += g[off:off + b.size].reshape(b.shape)
                off += b.size
        return np.einsum("no,oin->ni", dY, Jx)

    # -- kernels ------------------------------------------------------------------------------------
    def _offsets(self, ctx):
        return [ctx.offsets[b.name] + k for b in self.blocks() for k in range(b.size)]

    def kernel_defs(self, ctx):
        u, ps, y, dx, dp = self._sym
        k = ctx.uid(self)
        offs = self._offsets(ctx)
        smap = {v: f"X[r, {j}]" for j, v in enumerate(u)}
        smap.update({v: f"theta[{o}]" for v, o in zip(ps, offs)})
        dz = [sp.Symbol(f"dz_{i}", real=True) for i in range(len(y))]
        smap.update({v: f"dZ[r, {i}]" for i, v in enumerate(dz)})
        pr = ctx.KernelPrinter(smap)

        def body(exprs, targets, ind="        "):
            reps, red = sp.cse(exprs, symbols=sp.numbered_symbols("t_"))
            lines = [f"{ind}{pr.doprint(s)} = {pr.doprint(e)}{pr.names()}" for s, e in reps]
            lines += [f"{ind}{t}{pr.doprint(e)}{pr.names()}" for t, e in zip(targets, red)]
            return lines

        fwd = ["@njit(cache=True)", f"def symfwd_{k}(theta, X, Z):", "    for r in range(X.shape[0]):"]
        fwd += body(y, [f"Z[r, {o}] = " for o in range(len(y))])
        bwd = ["@njit(cache=True)", f"def symbwd_{k}(theta, grad, X, dZ, dX, need_dx):"]
        bwd += [f"    grad[{o}] = 0.0" for o in offs]
        bwd.append("    for r in range(X.shape[0]):")
        exprs, targets = [], []
        for q, o in enumerate(offs):
            exprs.append(sum((dz[i] * dp[i][q] for i in range(len(y))), sp.Integer(0)))
            targets.append(f"grad[{o}] += ")
        for j in range(len(u)):
            exprs.append(sum((dz[i] * dx[i][j] for i in range(len(y))), sp.Integer(0)))
            targets.append(f"dX[r, {j}] = ")
        lines = body(exprs, targets)
        # dX lines only when asked (the first parametrised layer's input gradient is never used)
        split = [ln for ln in lines if ln.strip().startswith("dX[")]
        rest = [ln for ln in lines if not ln.strip().startswith("dX[")]
        bwd += rest + ["        if need_dx:"] + ["    " + ln for ln in split]
        if not split:
            bwd.append("            pass")
        return "\n".join(fwd) + "\n\n" + "\n".join(bwd) + "\n"

    def kernel_forward(self, ctx, X, Z):
        return [f"symfwd_{ctx.uid(self)}(theta, {X}, {Z})"]

    def kernel_backward(self, ctx, X, dZ, dX, need_dx):
        return [f"symbwd_{ctx.uid(self)}(theta, grad, {X}, {dZ}, {dX}, {need_dx})"]
