"""``attention``: multi-head self-attention over the T tokens of a sample (Vaswani et al. 2017).

A sample is a T × n matrix (T = the model's top-level ``seq``), flattened row-major: x[t·n + j].
Per head h: Q = X WQ_hᵀ + bQ_h, K = X WK_hᵀ + bK_h, V = X WV_hᵀ + bV_h, A = softmax_rows(Q Kᵀ/√d_k),
H_h = A V; the heads are concatenated (T × heads·d_v) and projected, Y = H WOᵀ + bO (T × out),
flattened row-major again: y[t·out + o].  No mask.  Blocks WQ<l> (heads, d_k, n), bQ<l>
(heads, d_k), likewise K, V (d_v), WO<l> (out, heads·d_v), bO<l> (out,); biases with ``bias``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import SpecError
from .fields import boolean, check_keys, positive_int
from .layer import Block, Layer

KEYS = {"type", "heads", "d_k", "d_v", "out", "bias"}


class Attention(Layer):
    type = "attention"
    declares_out = True

    def __init__(self, d_k: int, heads: int = 1, d_v: int | None = None, out: int | None = None,
                 bias: bool = True, field: str = "attention"):
        for key, v in (("d_k", d_k), ("heads", heads), ("d_v", d_v), ("out", out)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise SpecError(f"{field}.{key}", f"must be a positive integer, got {v!r}")
        self.d_k, self.heads, self.d_v_decl, self.out_decl, self.bias, self.field = d_k, heads, d_v, out, bias, field
        self.seq = None

    @classmethod
    def from_spec(cls, table, field):
        check_keys(table, KEYS, field)
        d_k = positive_int(table, "d_k", field)
        opt = {k: positive_int(table, k, field) for k in ("d_v", "out") if k in table}
        return cls(d_k, positive_int(table, "heads", field, 1), opt.get("d_v"), opt.get("out"),
                   boolean(table, "bias", field, True), field)

    def set_seq(self, seq):
        self.seq = seq

    def bind(self, in_dim, index):
        super().bind(in_dim, index)
        if self.seq is None:
            raise SpecError("seq", f"missing; {self.field} (attention) needs the top-level seq = T "
                            "(tokens per sample)")
        if in_dim % self.seq:
            raise SpecError(f"{self.field}", f"input size {in_dim} is not a multiple of seq = {self.seq}")
        self.n = in_dim // self.seq
        self.d_v = self.d_v_decl or self.d_k
        self.n_out = self.out_decl or self.n

    # -- parameters --------------------------------------------------------------------------
    def names(self):
        l = self.index
        return {k: f"{k}{l}" for k in ("WQ", "bQ", "WK", "bK", "WV", "bV", "WO", "bO")}

    def blocks(self):
        N, H, dk, dv, n = self.names(), self.heads, self.d_k, self.d_v, self.n
        out = []
        for t, d in (("Q", dk), ("K", dk), ("V", dv)):
            out.append(Block(N["W" + t], (H, d, n)))
            if self.bias:
                out.append(Block(N["b" + t], (H, d)))
        out.append(Block(N["WO"], (self.n_out, H * dv)))
        if self.bias:
            out.append(Block(N["bO"], (self.n_out,)))
        return out

    def out_dim(self):
        return self.seq * self.n_out

    def axes(self, ins, ctx):
        """Tokens and heads are fixed labels; d_k, d_v, the features and ``out`` are free."""
        T, n = ctx.split(ins, (self.seq, self.n))
        T.fix()
        H, dk, dv, o = ctx.fixed(self.heads), ctx.new(self.d_k, "d_k"), ctx.new(self.d_v, "d_v"), ctx.new(self.n_out, "out")
        N, bl = self.names(), {}
        for t, d in (("Q", dk), ("K", dk), ("V", dv)):
            bl[N["W" + t]] = [(H,), (d,), (n,)]
            bl[N["b" + t]] = [(H,), (d,)]
        bl[N["WO"]], bl[N["bO"]] = [(o,), (H, dv)], [(o,)]
        return [T, o], {k: v for k, v in bl.items() if k in {b.name for b in self.blocks()}}

    # -- symbolic (one sample) -----------------------------------------------------------------
    def symbolic(self, x, p):
        N, T, n, dk, dv = self.names(), self.seq, self.n, self.d_k, self.d_v
        X = [[x[t * n + j] for j in range(n)] for t in range(T)]
        scale = 1 / sp.sqrt(dk)

        def proj(t, h, W, b, d):
            Wm = p[N[W]]
            return [sum((Wm[h, a, j] * X[t][j] for j in range(n)), sp.Integer(0))
                    + (p[N[b]][h, a] if self.bias else 0) for a in range(d)]

        Hc = [[] for _ in range(T)]
        for h in range(self.heads):
            Q = [proj(t, h, "WQ", "bQ", dk) for t in range(T)]
            K = [proj(t, h, "WK", "bK", dk) for t in range(T)]
            V = [proj(t, h, "WV", "bV", dv) for t in range(T)]
            for t in range(T):
                E = [sp.exp(scale * sum((Q[t][a] * K[u][a] for a in range(dk)), sp.Integer(0))) for u in range(T)]
                Z = sum(E, sp.Integer(0))
                Hc[t] += [sum((E[u] * V[u][c] for u in range(T)), sp.Integer(0)) / Z for c in range(dv)]
        WO = p[N["WO"]]
        return [sum((WO[o, c] * Hc[t][c] for c in range(self.heads * dv)), sp.Integer(0))
                + (p[N["bO"]][o] if self.bias else 0) for t in range(T) for o in range(self.n_out)]

    # -- numpy reference (batch) ---------------------------------------------------------------
    def _parts(self, X, p):
        N, B = self.names(), X.shape[0]
        X3 = X.reshape(B, self.seq, self.n)

        def proj(W, b):
            Y = np.einsum("btj,haj->bhta", X3, p[N[W]])
            return Y + p[N[b]][None, :, None, :] if self.bias else Y

        Q, K, V = proj("WQ", "bQ"), proj("WK", "bK"), proj("WV", "bV")
        S = np.einsum("bhta,bhua->bhtu", Q, K) / np.sqrt(self.d_k)
        S = S - S.max(axis=-1, keepdims=True)
        E = np.exp(S)
        A = E / E.sum(axis=-1, keepdims=True)
        Hh = np.einsum("bhtu,bhuc->bhtc", A, V)
        Hc = Hh.transpose(0, 2, 1, 3).reshape(B, self.seq, self.heads * self.d_v)
        return X3, Q, K, V, A, Hc

    def forward(self, X, p):
        N = self.names()
        *_, Hc = self._parts(X, p)
        Y = Hc @ p[N["WO"]].T
        if self.bias:
            Y = Y + p[N["bO"]]
        return Y.reshape(X.shape[0], -1)

    def backward(self, X, p, dY, grads):
        N, B, T, H, dv = self.names(), X.shape[0], self.seq, self.heads, self.d_v
        X3, Q, K, V, A, Hc = self._parts(X, p)
        dY3 = dY.reshape(B, T, self.n_out)
        grads[N["WO"]] += np.einsum("bto,btc->oc", dY3, Hc)
        if self.bias:
            grads[N["bO"]] += dY3.sum(axis=(0, 1))
        dH = (dY3 @ p[N["WO"]]).reshape(B, T, H, dv).transpose(0, 2, 1, 3)   # (B, H, T, dv)
        dV = np.einsum("bhtu,bhtc->bhuc", A, dH)
        dA = np.einsum("bhtc,bhuc->bhtu", dH, V)
        dS = A * (dA - (dA * A).sum(axis=-1, keepdims=True)) / np.sqrt(self.d_k)
        dQ = np.einsum("bhtu,bhua->bhta", dS, K)
        dK = np.einsum("bhtu,bhta->bhua", dS, Q)
        dX3 = np.zeros_like(X3)
        for t, d in (("Q", dQ), ("K", dK), ("V", dV)):
            grads[N["W" + t]] += np.einsum("bhta,btj->haj", d, X3)
            if self.bias:
                grads[N["b" + t]] += d.sum(axis=(0, 2))
            dX3 += np.einsum("bhta,haj->btj", d, p[N["W" + t]])
        return dX3.reshape(B, -1)

    # -- kernels (hand-written primitives, noether/kernels/primitives_attention.py) ----------
    def _kargs(self, ctx):
        N = self.names()
        offs = [ctx.offsets.get(N[k], 0) for k in ("WQ", "bQ", "WK", "bK", "WV", "bV", "WO", "bO")]
        return ", ".join(map(str, offs)) + f", {self.seq}, {self.n}, {self.heads}, {self.d_k}, " \
            f"{self.d_v}, {self.n_out}, {self.bias}"

    def kernel_forward(self, ctx, X, Z):
        return [f"attn_fwd(theta, {self._kargs(ctx)}, {X}, {Z})"]

    def kernel_backward(self, ctx, X, dZ, dX, need_dx):
        return [f"attn_bwd(theta, grad, {self._kargs(ctx)}, {X}, {dZ}, {dX}, {need_dx})"]

    def describe(self):
        return (f"attention T={self.seq} {self.n}->{self.n_out} heads={self.heads} d_k={self.d_k} "
                f"d_v={self.d_v}" + ("" if self.bias else " (no bias)"))

    def to_spec(self):
        return {"type": self.type, "heads": self.heads, "d_k": self.d_k, "d_v": self.d_v,
                "out": self.n_out, "bias": self.bias}
