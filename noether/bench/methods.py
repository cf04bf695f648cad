"""The methods the benchmark compares, all doing the same work: full-batch GD (MSE loss,
θ ← θ − η∇L) on a sequential Linear/activation model, recording every derived charge at every step.

- ``noether``: the generated kernels' ``run_gd`` recording every charge (the same work as the others);
- ``noether_law``: the same, also checking the exact GD law on every charge at every step;
- ``numpy``: hand-written forward/backward with ``@``;
- ``torch`` / ``torch_mt``: PyTorch eager autograd, float64, on 1 thread / its default threads;
- ``jax``: ``jax.jit`` of a ``lax.scan`` over steps, x64, ``jax.grad``.

The baselines evaluate the charges as a user would: one Gram product per family (see :mod:`.gram`,
read off the derivation's indexed formulas).  Each ``run()`` returns (final θ, charges (steps+1, nC)).
"""

from __future__ import annotations

import numpy as np

from ..kernels.gramform import gram_families
from ..kernels.primitives import blas_threads, blas_threads_for

METHODS = ("noether", "noether_law", "numpy", "torch", "torch_mt", "jax")
BASELINES = ("numpy", "torch", "torch_mt", "jax")


class Unsupported(RuntimeError):
    pass


def _structure(model):
    """[("linear", W, b | None) | ("act", name)], the only layer types the baselines implement."""
    seq = []
    for layer in model.layers:
        if layer.type == "linear":
            seq.append(("linear", layer.W, layer.b if layer.bias else None))
        elif layer.type == "activation" and layer.name in ("relu", "tanh"):
            seq.append(("act", layer.name))
        else:
            raise Unsupported(f"baselines do not implement layer {layer.describe()}")
    return seq


class _Base:
    def __init__(self, problem, deriv):
        self.p = problem
        self.model = model = problem.model()
        self.seq = _structure(model)
        self.fams = gram_families(deriv)
        self.X, self.Y, self.theta0 = problem.data()
        self.shapes = {b.name: b.shape for b in model.blocks}
        self.offsets = model.offsets
        self.nC = sum(f.h if f.kind == "unit" else f.h * (f.h - 1) // 2 for f in self.fams)

    def blocks0(self):
        return {n: self.theta0[o:o + int(np.prod(self.shapes[n]))].reshape(self.shapes[n]).copy()
                for n, o in self.offsets.items()}

    def flat(self, params) -> np.ndarray:
        out = np.empty(self.model.D)
        for n, o in self.offsets.items():
            v = np.asarray(params[n], dtype=float).ravel()
            out[o:o + v.size] = v
        return out


# ---------------------------------------------------------------- noether
class NoetherMethod(_Base):
    """The same work as the baselines: GD recording every charge at every step.  (Its agreement check
    also runs the per-step law check, and requires it to hold to verify's 1e-10.)"""
    check_law = False

    def __init__(self, problem, deriv, kernels):
        self.p, self.kern = problem, kernels
        self.model = problem.model()
        self.X, self.Y, self.theta0 = problem.data()

    def check(self):
        from ..run.gd import run_gd
        r = run_gd(self.kern, self.theta0, self.X, self.Y, self.p.lr, self.p.steps, record=True)
        if r.diverged:
            raise RuntimeError(f"noether GD diverged at step {r.completed}")
        self.law_resid = float(r.charge_resid.max()) if r.charge_resid.size else 0.0
        if not self.law_resid <= 1e-10:
            raise AssertionError(f"noether's exact GD law residual {self.law_resid:.3e} > 1e-10 on {self.p.key}")
        return r.theta[-1], r.charges

    def run(self):
        from ..run.gd import run_gd      # run_gd sets its own BLAS threads (noether.run.chunks)
        r = run_gd(self.kern, self.theta0, self.X, self.Y, self.p.lr, self.p.steps, record=False,
                   check_law=self.check_law)
        return None, r.charges


class NoetherLawMethod(NoetherMethod):
    """Plus what no baseline does: the exact GD law checked on every charge at every step (a rounding
    scale per charge and B(g, g), for a pair family a second Gram product)."""
    check_law = True


# ---------------------------------------------------------------- numpy
class NumpyMethod(_Base):
    def _charges(self, P, out):
        n = 0
        for f in self.fams:
            if f.kind == "unit":
                acc = np.zeros(f.h)
                for t in f.terms:
                    a = P[t.block]
                    acc += t.coef * (a * a if a.ndim == 1 else (a * a).sum(axis=1 - t.axis))
                out[n:n + f.h] = acc
                n += f.h
            else:
                G = np.zeros((f.h, f.h))
                for t in f.terms:
                    a = P[t.block]
                    G += t.coef * (np.outer(a, a) if a.ndim == 1 else (a @ a.T if t.axis == 0 else a.T @ a))
                iu = np.triu_indices(f.h, 1)
                m = len(iu[0])
                out[n:n + m] = G[iu]
                n += m

    def run(self):
        with blas_threads(blas_threads_for(self.p.flops_per_step())):   # the same BLAS policy as noether
            return self._run()

    def _run(self):
        P, X, Y, lr = self.blocks0(), self.X, self.Y, self.p.lr
        N = X.shape[0]
        Cs = np.empty((self.p.steps + 1, self.nC))
        self._charges(P, Cs[0])
        for k in range(self.p.steps):
            acts, A = [], X
            for op in self.seq:
                acts.append(A)
                if op[0] == "linear":
                    A = A @ P[op[1]].T + (P[op[2]] if op[2] else 0.0)
                else:
                    A = np.maximum(A, 0.0) if op[1] == "relu" else np.tanh(A)
            dA = (A - Y) / N
            grads = {}
            for op, Ain in zip(reversed(self.seq), reversed(acts)):
                if op[0] == "linear":
                    grads[op[1]] = dA.T @ Ain
                    if op[2]:
                        grads[op[2]] = dA.sum(axis=0)
                    dA = dA @ P[op[1]]
                elif op[1] == "relu":
                    dA = dA * (Ain > 0)
                else:
                    dA = dA * (1.0 - np.tanh(Ain) ** 2)
            for n_, g in grads.items():
                P[n_] -= lr * g
            self._charges(P, Cs[k + 1])
        return self.flat(P), Cs

    check = run


# ---------------------------------------------------------------- torch
class TorchMethod(_Base):
    threads = 1

    def __init__(self, problem, deriv):
        super().__init__(problem, deriv)
        import torch  # optional extra (torch): only when this baseline runs
        self.torch = torch
        self.default_threads = torch.get_num_threads()
        self.Xt = torch.from_numpy(self.X)
        self.Yt = torch.from_numpy(self.Y)
        self.iu = {f.h: torch.triu_indices(f.h, f.h, 1) for f in self.fams if f.kind == "pair"}

    def _charges(self, P, out):
        torch = self.torch
        n = 0
        for f in self.fams:
            if f.kind == "unit":
                acc = torch.zeros(f.h, dtype=torch.float64)
                for t in f.terms:
                    a = P[t.block]
                    acc += t.coef * (a * a if a.ndim == 1 else (a * a).sum(dim=1 - t.axis))
                out[n:n + f.h] = acc
                n += f.h
            else:
                G = torch.zeros((f.h, f.h), dtype=torch.float64)
                for t in f.terms:
                    a = P[t.block]
                    G += t.coef * (torch.outer(a, a) if a.ndim == 1 else (a @ a.T if t.axis == 0 else a.T @ a))
                iu = self.iu[f.h]
                m = iu.shape[1]
                out[n:n + m] = G[iu[0], iu[1]]
                n += m

    def run(self):
        torch = self.torch
        torch.set_num_threads(self.threads or self.default_threads)
        try:
            P = {n: torch.from_numpy(v).requires_grad_(True) for n, v in self.blocks0().items()}
            X, Y, lr, N = self.Xt, self.Yt, self.p.lr, self.X.shape[0]
            Cs = torch.empty((self.p.steps + 1, self.nC), dtype=torch.float64)
            with torch.no_grad():
                self._charges(P, Cs[0])
            for k in range(self.p.steps):
                A = X
                for op in self.seq:
                    if op[0] == "linear":
                        A = torch.nn.functional.linear(A, P[op[1]], P[op[2]] if op[2] else None)
                    else:
                        A = torch.relu(A) if op[1] == "relu" else torch.tanh(A)
                loss = 0.5 * ((A - Y) ** 2).sum() / N
                grads = torch.autograd.grad(loss, list(P.values()))
                with torch.no_grad():
                    for v, g in zip(P.values(), grads):
                        v -= lr * g
                    self._charges(P, Cs[k + 1])
            return self.flat({n: v.detach().numpy() for n, v in P.items()}), Cs.numpy()
        finally:
            torch.set_num_threads(self.default_threads)

    check = run


class TorchMTMethod(TorchMethod):
    threads = 0   # PyTorch's default


# ---------------------------------------------------------------- jax
class JaxMethod(_Base):
    def __init__(self, problem, deriv):
        super().__init__(problem, deriv)
        import jax  # optional (jax): only when this baseline runs
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp  # optional (jax), after enabling x64
        self.jax, self.jnp = jax, jnp
        seq, fams, lr, N, steps = self.seq, self.fams, self.p.lr, self.X.shape[0], self.p.steps
        ius = {f.h: np.triu_indices(f.h, 1) for f in fams if f.kind == "pair"}

        def charges(P):
            parts = []
            for f in fams:
                if f.kind == "unit":
                    acc = jnp.zeros(f.h)
                    for t in f.terms:
                        a = P[t.block]
                        acc = acc + t.coef * (a * a if a.ndim == 1 else (a * a).sum(axis=1 - t.axis))
                    parts.append(acc)
                else:
                    G = jnp.zeros((f.h, f.h))
                    for t in f.terms:
                        a = P[t.block]
                        G = G + t.coef * (jnp.outer(a, a) if a.ndim == 1 else (a @ a.T if t.axis == 0 else a.T @ a))
                    parts.append(G[ius[f.h]])
            return jnp.concatenate(parts) if parts else jnp.zeros(0)

        def loss(P, X, Y):
            A = X
            for op in seq:
                if op[0] == "linear":
                    A = A @ P[op[1]].T + (P[op[2]] if op[2] else 0.0)
                else:
                    A = jax.nn.relu(A) if op[1] == "relu" else jnp.tanh(A)
            return 0.5 * jnp.sum((A - Y) ** 2) / N

        grad = jax.grad(loss)

        @jax.jit
        def run(P0, X, Y):
            def step(P, _):
                g = grad(P, X, Y)
                P = {n: P[n] - lr * g[n] for n in P}
                return P, charges(P)
            P, Cs = jax.lax.scan(step, P0, None, length=steps)
            return P, jnp.concatenate([charges(P0)[None, :], Cs], axis=0)

        self._run = run
        self._P0 = {n: jnp.asarray(v) for n, v in self.blocks0().items()}
        self._Xj, self._Yj = jnp.asarray(self.X), jnp.asarray(self.Y)
        self.run()   # compile outside the timed region

    def run(self):
        P, Cs = self._run(self._P0, self._Xj, self._Yj)
        Cs.block_until_ready()
        return P, Cs

    def check(self):
        P, Cs = self.run()
        return self.flat({n: np.asarray(v) for n, v in P.items()}), np.asarray(Cs)


def make(method: str, problem, deriv, kernels):
    if method in ("noether", "noether_law"):
        return (NoetherMethod if method == "noether" else NoetherLawMethod)(problem, deriv, kernels)
    return {"numpy": NumpyMethod, "torch": TorchMethod, "torch_mt": TorchMTMethod, "jax": JaxMethod}[method](
        problem, deriv)
