"""Charge families on torch tensors: a whole family per Gram product, for models of any size.

Past the explicit-charge limit the derivation gives charges as indexed families (one formula per
hidden unit i, or pair i < j).  A family whose formula is a signed sum of Gram terms (read off by
:mod:`noether.kernels.gramform`, nothing per architecture) is  C = Σ_t coef_t · M_t M_tᵀ, M_t a
parameter block, its transpose, or a bias as a column (Du, Hu & Lee 2018's balancedness matrix is
one instance): unit charges are its diagonal, pair charges its upper triangle.  Its bilinear form,
C(θ) = ½B(θ, θ), is by polarisation

    B(u, v) = Σ_t coef_t · (M_t(u) M_t(v)ᵀ + M_t(v) M_t(u)ᵀ),

so every atom of an optimizer's law costs one elementwise product (unit families) or one matrix
product (pair families) per term, on the parameters' own tensors.  Evaluated in float64.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch

from ..errors import SpecError
from ..kernels.gramform import NotGram, gram_families
from ..kernels.primitives_gram import row_dots3, row_sq


class FamilyCharges:
    """Every charge of ``deriv``'s families, as ``Charges`` gives explicit ones: ``vector`` takes the
    module's tensors (parameters, gradients or buffers, in ``keys`` order) to the blocks the families
    read; ``value``, ``B`` and ``L`` take such vectors and return numpy arrays over the charges."""

    def __init__(self, deriv, model, keys: list[str]):
        try:
            self.fams = gram_families(deriv)
        except NotGram as exc:
            raise SpecError("module", f"has {model.D} parameters and a charge family with no Gram form "
                            f"({exc}); the monitor evaluates explicit charges only up to 2000 parameters") from None
        if not self.fams:
            raise SpecError("module", "the derivation gave no charge families to monitor: " + "; ".join(deriv.notes))
        shapes = {b.name: b.shape for b in model.blocks}
        self.blocks = sorted({t.block for f in self.fams for t in f.terms})
        rows = getattr(model, "torch_rows", {})
        if any(b in rows for b in self.blocks):
            raise SpecError("module", "a charge family reads a block stored as rows of a shared tensor "
                            "(attention's in_proj); the monitor needs explicit charges for it")
        self.index = {b: keys.index(model.torch_names[b]) for b in self.blocks}
        self.shapes = {b: tuple(shapes[b]) for b in self.blocks}
        self.n = sum(f.h if f.kind == "unit" else f.h * (f.h - 1) // 2 for f in self.fams)
        self.names = [f"{f.name}[{i}]" if f.kind == "unit" else f"{f.name}[{i},{j}]" for f in self.fams
                      for i, j in ([(i, None) for i in range(f.h)] if f.kind == "unit"
                                   else zip(*np.triu_indices(f.h, 1)))]
        self.families = [f.name for f in self.fams for _ in range(f.h if f.kind == "unit" else f.h * (f.h - 1) // 2)]
        self._iu = {f.h: torch.triu_indices(f.h, f.h, 1) for f in self.fams if f.kind == "pair"}
        self._zeros: dict = {}      # zero blocks standing in for an absent momentum buffer

    def vector(self, tensors) -> "_Blocks":
        out = {}
        for b in self.blocks:
            src = tensors[self.index[b]].detach()
            t = src.to(dtype=torch.float64, device="cpu")
            if tuple(t.shape) != self.shapes[b]:
                raise SpecError("module", f"block {b} has shape {tuple(t.shape)}, the model has {self.shapes[b]}")
            out[b] = t.clone() if t.data_ptr() == src.data_ptr() else t     # a copy, never a view
        return _Blocks(out)

    def live(self, groups) -> list["_Blocks"] | None:
        """Up to three vectors read straight from the module's tensors (each a list in ``keys``
        order, or None for zeros), as _Blocks that carry only their row dots: every pairwise row
        dot of the unit families' terms, formed in one fused float64 pass per block
        (:func:`noether.kernels.primitives_gram.row_dots3`) before the optimizer's step changes
        the tensors.  No float64 copies are made.  None when this does not apply (a pair family,
        or a tensor off the CPU, of another float type, not contiguous or of more than two axes);
        :meth:`vector` then."""
        if len(groups) not in (1, 3) or any(f.kind != "unit" for f in self.fams):
            return None
        arrays = []
        for grp in groups:
            arr = {}
            for b in self.blocks:
                if grp is None:
                    arr[b] = None
                    continue
                t = grp[self.index[b]].detach()
                if t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float64) or t.dim() > 2 or \
                        not t.is_contiguous() or tuple(t.shape) != self.shapes[b]:
                    return None
                arr[b] = t.numpy()
            arrays.append(arr)
        terms = sorted({(t.block, t.axis) for f in self.fams for t in f.terms})
        dots = {}          # (block, axis) -> (rows, 6) or (rows,) float64
        for b, axis in terms:
            mats = []
            for arr in arrays:
                m = arr[b]
                if m is None:
                    ref = next(a[b] for a in arrays if a[b] is not None)
                    m = self._zeros.setdefault((b, ref.dtype.str), np.zeros_like(ref))
                mats.append(m[:, None] if m.ndim == 1 else (m if axis == 0 else m.T))
            if len(mats) == 1:
                dots[b, axis] = out = np.empty(mats[0].shape[0])
                row_sq(mats[0], out)
            else:
                dots[b, axis] = out = np.empty((mats[0].shape[0], 6))
                row_dots3(mats[0], mats[1], mats[2], out)
        vecs = [_Blocks({}) for _ in groups]
        col = {(0, 0): 0, (1, 1): 1, (2, 2): 2, (0, 1): 3, (0, 2): 4, (1, 2): 5}
        for p, u in enumerate(vecs):
            for q, v in enumerate(vecs):
                k = col[min(p, q), max(p, q)] if len(vecs) == 3 else None
                table = [[torch.from_numpy(dots[t.block, t.axis] if k is None else dots[t.block, t.axis][:, k].copy())
                          for t in f.terms] for f in self.fams]
                u.cache[id(v)] = (weakref.ref(v), table)
        return vecs

    def zeros(self) -> "_Blocks":
        return _Blocks({b: torch.zeros(self.shapes[b], dtype=torch.float64) for b in self.blocks})

    def _dots(self, u: "_Blocks", v: "_Blocks") -> list:
        """Per family, per term: the row dots M_t(u)_i · M_t(v)_i (unit) or M_t(u) M_t(v)ᵀ (pair),
        cached on u for the step (each law atom and scale reuses them)."""
        hit = u.cache.get(id(v))
        if hit is None or hit[0]() is not v:      # (a weak reference: an id can be reused)
            out = []
            for f in self.fams:
                row = []
                for t in f.terms:
                    a, b = u.t[t.block], v.t[t.block]
                    if f.kind == "unit":
                        # vecdot along contiguous rows (no temporary); a product and a sum across them
                        row.append(a * b if a.dim() == 1 else torch.linalg.vecdot(a, b, dim=1) if t.axis == 0
                                   else (a * b).sum(dim=0))
                    else:
                        ma = a[:, None] if a.dim() == 1 else (a if t.axis == 0 else a.T)
                        mb = b[:, None] if b.dim() == 1 else (b if t.axis == 0 else b.T)
                        row.append(ma @ mb.T)
                out.append(row)
            hit = u.cache[id(v)] = (weakref.ref(v), out)
        return hit[1]

    def _norms(self, u: "_Blocks") -> list:
        """Per family, per term: the row norms ‖M_t(u)_i‖ (from the row dots of u with itself)."""
        if u.norms is None:
            u.norms = [[(x if f.kind == "unit" else x.diagonal()).clamp(min=0).sqrt() for x in row]
                       for f, row in zip(self.fams, self._dots(u, u))]
        return u.norms

    def B(self, u, v, absolute=False) -> np.ndarray:
        """B(u, v) per charge; with ``absolute`` an upper bound of Σ|coef·u_k·v_k| over the charge's
        terms by Cauchy–Schwarz, Σ_t |coef_t|·(‖M_t(u)_i‖‖M_t(v)_j‖ + ‖M_t(v)_i‖‖M_t(u)_j‖): the
        rounding scale of the terms, at the cost of row norms already computed for the law."""
        if absolute:
            nu, nv = self._norms(u), self._norms(v)
        else:
            d = self._dots(u, v)
        out = []
        for n, f in enumerate(self.fams):
            acc = None
            for m, t in enumerate(f.terms):
                if absolute:
                    a, b = nu[n][m], nv[n][m]
                    x = abs(t.coef) * (2 * a * b if f.kind == "unit" else torch.outer(a, b) + torch.outer(b, a))
                else:
                    x = t.coef * (2 * d[n][m] if f.kind == "unit" else d[n][m] + d[n][m].T)
                acc = x if acc is None else acc + x
            if f.kind == "pair":
                i, j = self._iu[f.h]
                acc = acc[i, j]
            out.append(acc)
        return torch.cat(out).numpy() if out else np.zeros(0)

    def L(self, u, absolute=False) -> np.ndarray:
        return np.zeros(self.n)          # Gram families are homogeneous quadratics

    def value(self, th) -> np.ndarray:
        return 0.5 * self.B(th, th)


class _Blocks:
    """The family blocks of one vector (float64 copies) and its row dots with others, made once."""

    def __init__(self, t: dict):
        self.t = t
        self.cache: dict = {}      # id(other) -> (weak reference to it, row dots with it)
        self.norms = None          # row norms per family term
