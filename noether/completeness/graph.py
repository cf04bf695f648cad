"""Any model as its sympy expression graph, for counting: gradient fields and their jets.

:class:`~noether.completeness.jets.Net` knows linear and elementwise layers and runs them as
matrix products.  Every other layer type (convolutions, pooling, normalisations, attention,
residual containers, user layers) is counted from its own definition: the model's symbolic
output with symbolic inputs (the same expressions the derivation works on), compiled once into
a DAG of sympy nodes in topological order, then evaluated numerically in the nilpotent jet
algebra of :mod:`.jets`, batched over directions (N) and inputs (P), with a reverse pass for
∇_θ.  Nothing here knows a layer: a node is an addition, a product, a power, a function of one
argument, a max/min, or a piecewise choice, and the kinks (max, min, piecewise, |·|, Heaviside,
sign) take the branch of the real part, as a ReLU pattern is fixed on its activation region
(Marcotte, Gribonval, Peyré, NeurIPS 2023, §3).

Batch-coupled layers (batch normalisation) make a "sample" a batch of ``batch_size(model)``
inputs: the fields are then the gradients of batch losses, and ``k`` counts every output of the
batch.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..derive.global_search.exact import batch_size, dag_size, model_problem
from ..derive.modeval import NotExact
from ..errors import SpecError
from ..expr import postorder
from ..model.catalogue import z as _z
from .jets import activation_derivatives, is_piecewise, jfunc, jmul

#: Largest expression DAG (distinct nodes) counted: every node keeps a jet of (N, P) arrays.
MAX_NODES = 50_000

# node kinds
THETA, INPUT, CONST, ADD, MUL, FUNC, CHOICE, PIECEWISE, REL, AND, OR, NOT = range(12)

_REL = {sp.StrictGreaterThan: np.greater, sp.GreaterThan: np.greater_equal,
        sp.StrictLessThan: np.less, sp.LessThan: np.less_equal, sp.Eq: np.equal, sp.Ne: np.not_equal}


def _jadd(out: dict, j: dict, scale=None) -> None:
    """out += j (· scale, an array multiplying every mask), in place on ``out``."""
    for m, v in j.items():
        v = v if scale is None else v * scale
        out[m] = out[m] + v if m in out else v


class GraphNet:
    """A model reduced to its expression DAG; the interface of :class:`.jets.Net` that counting
    uses (``D``, ``d_in``, ``k``, ``jacobian``, ``grad_field``, ``pinned``, ``estimate_bytes``)."""

    generic = True

    def __init__(self, model):
        self.model = model
        self.D = model.D
        self.batch = batch_size(model)
        try:
            prob = model_problem(model, size=dag_size, limit=MAX_NODES, what="counting")
        except NotExact as exc:
            raise SpecError("model", f"too large to count from its expression graph: {exc}") from None
        self.d_in = len(prob.inputs)
        self.k = len(prob.outputs)
        theta_index = {s: j for j, s in enumerate(prob.params)}
        x_index = {s: c for c, s in enumerate(prob.inputs)}
        self.nodes: list[tuple] = []          # (kind, children, data)
        self.theta_dep: list[bool] = []       # does the node depend on θ (else no adjoint)
        self.exprs: list = []
        index: dict = {}

        outputs = [sp.sympify(o) for o in prob.outputs]
        for e in postorder(outputs, self._children):
            index[e] = len(self.nodes)
            node = self._node(e, [index[a] for a in self._children(e)], theta_index, x_index)
            self.nodes.append(node)
            self.exprs.append(e)
            self.theta_dep.append(node[0] == THETA or any(self.theta_dep[c] for c in node[1]))
        self.outputs = [index[o] for o in outputs]
        self.kinks = [i for i, (kind, _, data) in enumerate(self.nodes)
                      if kind in (CHOICE, PIECEWISE) or (kind == FUNC and is_piecewise(data))]
        self.piecewise = bool(self.kinks)

    # -- compilation -----------------------------------------------------------------------------
    @staticmethod
    def _children(e) -> tuple:
        if isinstance(e, sp.Piecewise):
            return tuple(a for pair in e.args for a in pair)
        if isinstance(e, sp.Pow) and e.exp.is_Number:
            return (e.base,)
        if not getattr(e, "free_symbols", None):
            return ()
        return tuple(e.args)

    def _node(self, e, kids: list[int], theta_index: dict, x_index: dict) -> tuple:
        if e is sp.true or e is sp.false:
            return (CONST, (), bool(e))
        if not getattr(e, "free_symbols", None):
            try:
                return (CONST, (), float(e))
            except TypeError:
                raise SpecError("model", f"count cannot evaluate the constant {e}") from None
        if isinstance(e, sp.Symbol):
            if e in theta_index:
                return (THETA, (), theta_index[e])
            if e in x_index:
                return (INPUT, (), x_index[e])
            raise SpecError("model", f"count found a free symbol {e} that is neither a parameter nor an input")
        if isinstance(e, sp.Add):
            return (ADD, tuple(kids), None)
        if isinstance(e, sp.Mul):
            return (MUL, tuple(kids), None)
        if isinstance(e, sp.Pow) and e.exp.is_Number:
            return (FUNC, tuple(kids), _z ** e.exp)
        if isinstance(e, (sp.Max, sp.Min)):
            return (CHOICE, tuple(kids), np.argmax if isinstance(e, sp.Max) else np.argmin)
        if isinstance(e, sp.Piecewise):
            return (PIECEWISE, tuple(kids), None)
        if isinstance(e, sp.core.relational.Relational) and type(e) in _REL:
            return (REL, tuple(kids), _REL[type(e)])
        if isinstance(e, (sp.And, sp.Or)):
            return (AND if isinstance(e, sp.And) else OR, tuple(kids), None)
        if isinstance(e, sp.Not):
            return (NOT, tuple(kids), None)
        if isinstance(e, sp.Function) and len(e.args) == 1:
            return (FUNC, tuple(kids), e.func(_z))
        raise SpecError("model", f"count cannot differentiate the expression node {type(e).__name__} "
                        f"({str(e)[:60]}); supported: +, ×, constant powers, functions of one argument, "
                        "Max, Min, Piecewise")

    # -- evaluation ------------------------------------------------------------------------------
    def _forward(self, theta: dict, X: np.ndarray) -> list:
        """Jets of every node: θ̃ masks -> (N, D), X (P, d_in); values broadcast to (N, P)."""
        vals: list = [None] * len(self.nodes)
        for i, (kind, kids, data) in enumerate(self.nodes):
            if kind == THETA:
                vals[i] = {m: v[:, data:data + 1] for m, v in theta.items()}
            elif kind == INPUT:
                vals[i] = {0: X[None, :, data]}
            elif kind == CONST:
                vals[i] = {0: np.asarray(data)}
            elif kind == ADD:
                out: dict = {}
                for c in kids:
                    _jadd(out, vals[c])
                vals[i] = out
            elif kind == MUL:
                out = vals[kids[0]]
                for c in kids[1:]:
                    out = jmul(out, vals[c], None)
                vals[i] = out
            elif kind == FUNC:
                vals[i] = jfunc(data, 0, vals[kids[0]])
            elif kind in (CHOICE, PIECEWISE):
                sel = self._choice(i, vals)
                out = {}
                for b, c in enumerate(self._branches(i)):
                    _jadd(out, vals[c], sel == b)
                vals[i] = out
            elif kind == REL:
                vals[i] = {0: data(vals[kids[0]][0], vals[kids[1]][0])}
            elif kind in (AND, OR):
                f = np.logical_and if kind == AND else np.logical_or
                v = vals[kids[0]][0]
                for c in kids[1:]:
                    v = f(v, vals[c][0])
                vals[i] = {0: v}
            else:  # NOT
                vals[i] = {0: np.logical_not(vals[kids[0]][0])}
        return vals

    def _branches(self, i: int) -> tuple:
        """The value nodes a CHOICE or PIECEWISE node picks from (Piecewise interleaves conditions)."""
        kind, kids, _ = self.nodes[i]
        return kids if kind == CHOICE else kids[0::2]

    def _choice(self, i: int, vals: list) -> np.ndarray:
        """Branch taken at node i, from the real parts (argmax/argmin, or first true condition)."""
        kind, kids, data = self.nodes[i]
        if kind == CHOICE:
            reals = np.broadcast_arrays(*[np.asarray(vals[c][0], float) for c in kids])
            return data(np.stack(reals), axis=0)
        conds = np.broadcast_arrays(*[np.asarray(vals[c][0], bool) for c in kids[1::2]])
        return np.argmax(np.stack(conds), axis=0)   # the first true condition (sympy's order)

    def _reverse(self, vals: list, seeds: dict, per_sample: bool) -> dict:
        """Jets of ∇_θ Σ seeds[o]·output_o: masks -> (N, D), or (N, P, D) when ``per_sample``."""
        adj: dict = {}
        for o, s in seeds.items():
            _jadd(adj.setdefault(self.outputs[o], {}), s)
        N = next(iter(seeds.values()))[0].shape[0]
        P = max(np.shape(v)[1] for j in seeds.values() for v in j.values())
        grads: dict = {}
        for i in range(len(self.nodes) - 1, -1, -1):
            a = adj.pop(i, None)
            if not a or not self.theta_dep[i]:
                continue
            kind, kids, data = self.nodes[i]
            if kind == THETA:
                for m, v in a.items():
                    v = np.broadcast_to(v, (N, P))
                    g = grads.setdefault(m, np.zeros((N, P, self.D) if per_sample else (N, self.D)))
                    if per_sample:
                        g[:, :, data] += v
                    else:
                        g[:, data] += v.sum(axis=1)
            elif kind == ADD:
                for c in kids:
                    _jadd(adj.setdefault(c, {}), a)
            elif kind == MUL:
                # prefix/suffix products: ∂(Π v_j)/∂v_c = Π_{j<c} v_j · Π_{j>c} v_j
                pre = [{0: np.asarray(1.0)}]
                for c in kids[:-1]:
                    pre.append(jmul(pre[-1], vals[c], None))
                suf = {0: np.asarray(1.0)}
                for b in range(len(kids) - 1, -1, -1):
                    c = kids[b]
                    if self.nodes[c][0] != CONST:
                        _jadd(adj.setdefault(c, {}), jmul(a, jmul(pre[b], suf, None), None))
                    suf = jmul(suf, vals[c], None)
            elif kind == FUNC:
                _jadd(adj.setdefault(kids[0], {}), jmul(a, jfunc(data, 1, vals[kids[0]]), None))
            elif kind in (CHOICE, PIECEWISE):
                sel = self._choice(i, vals)
                for b, c in enumerate(self._branches(i)):
                    _jadd(adj.setdefault(c, {}), a, sel == b)
        return grads

    def grad_field(self, theta: dict, rho: np.ndarray, X: np.ndarray) -> dict:
        """Jet of X_ρ(θ̃) = ∇_θ Σ_p ρ_p·f(θ̃, x_p), batched: θ̃ masks -> (N, D), ρ (N, P, k)."""
        vals = self._forward(theta, X)
        seeds = {o: {0: rho[:, :, o]} for o in range(self.k) if self.nodes[self.outputs[o]][0] != CONST}
        if not seeds:
            return {0: np.zeros((rho.shape[0], self.D))}
        g = self._reverse(vals, seeds, per_sample=False)
        return g or {0: np.zeros((rho.shape[0], self.D))}

    def jacobian(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Rows ∇_θ f_k(θ, x_p) for every sample p and output k: shape (P·k, D)."""
        P = X.shape[0]
        vals = self._forward({0: np.broadcast_to(theta, (self.k, self.D))}, X)
        eye = np.eye(self.k)
        seeds = {o: {0: np.broadcast_to(eye[:, o:o + 1], (self.k, P))} for o in range(self.k)
                 if self.nodes[self.outputs[o]][0] != CONST}
        if not seeds:
            return np.zeros((P * self.k, self.D))
        J = self._reverse(vals, seeds, per_sample=True).get(0, np.zeros((self.k, P, self.D)))
        return np.ascontiguousarray(J.transpose(1, 0, 2)).reshape(P * self.k, self.D)

    def forward(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Outputs (P, k) at real θ (a check against the model's own numpy forward)."""
        vals = self._forward({0: theta[None, :]}, X)
        return np.stack([np.broadcast_to(vals[o][0], (1, X.shape[0]))[0] for o in self.outputs], axis=1)

    # -- what counting needs besides the fields ----------------------------------------------------
    def pinned(self, theta: np.ndarray, X: np.ndarray) -> list[dict]:
        """Kinks (max/min/piecewise/|·|-type nodes) where every input takes the same branch.

        The graph does not know a unit's fan-in, so only fully pinned kinks are reported
        (``dead`` when the branch's derivative vanishes, else ``one-sided``)."""
        if not self.kinks:
            return []
        vals = self._forward({0: theta[None, :]}, X)
        out = []
        for ordinal, i in enumerate(self.kinks):
            kind, kids, data = self.nodes[i]
            if kind == FUNC:
                z = np.broadcast_to(vals[kids[0]][0], (1, X.shape[0]))[0]
                branch = np.sign(z)
                fns, _ = activation_derivatives(data, 1)
                d = np.broadcast_to(np.asarray(fns[1](z), float), z.shape)
            else:
                branch = np.broadcast_to(self._choice(i, vals), (1, X.shape[0]))[0]
                d = None
            taken = np.unique(branch)
            if taken.size > 1:
                continue
            dead = d is not None and bool(np.all(d == 0))
            out.append({"layer": None, "unit": i, "kind": "dead" if dead else "one-sided",
                        "name": f"{type(self.exprs[i]).__name__} kink {ordinal}", "positive_samples": int(np.sum(branch > 0)),
                        "negative_samples": int(np.sum(branch <= 0))})
        return out

    def estimate_bytes(self, n: int, P: int, oversample: int = 8) -> tuple[int, int]:
        """(certain, level-1): the Jacobian with its projected copy and the per-sample reverse
        pass; the first bracket level keeps every node's jet (2 masks) for N = n + oversample."""
        certain = 8 * 3 * P * self.k * self.D
        return certain, certain + 8 * 2 * 2 * (n + oversample) * P * len(self.nodes)
