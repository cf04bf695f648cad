"""Completeness: count every conservation law of a model's training flow.

Marcotte, Gribonval & Peyré (NeurIPS 2023, "Abide by the law and follow the flow") show that
the number of functionally independent conserved functions of gradient flow near a generic θ
is ``D − dim Lie(V)(θ)``, with V spanned by the gradient fields θ ↦ ∇_θ f_k(θ, x) (rows of the
per-sample Jacobian) and Lie(V) its closure under [X, Y] = J_Y X − J_X Y.  For heavy-ball
momentum (ICML 2024, "Keep the momentum") the same count is made for the lifted fields on
(t, θ, v): F₀ = ∂_t + v·∂_θ − γ v·∂_v and G_X = X(θ)·∂_v, giving ``2D + 1 − dim Lie``.

Algorithm (general, no tables): V_{k+1} = V_k + [V_0, V_k].  At a random point we evaluate
right-nested brackets of *random elements* of V_0 exactly to float rounding with nilpotent
jets (:mod:`.jets`); by multilinearity, ``n − rank V_k + oversample`` random brackets
span the new directions.  Once dim V_{k+1}(θ) = dim V_k(θ) at a generic point, the
distribution is involutive there, so Lie(V)(θ) = V_k(θ) (Frobenius; Marcotte et al. Prop. 3.7).
Ranks are read with an SVD and the singular-value gap is reported; a missing gap makes the
count unconfident.  Units pinned on one side of a kink (dead / always-active ReLUs) add local
laws: points with such units are reported separately and never define the architecture count.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .graph import GraphNet
from .jets import ActStage, Net, activation_derivatives, is_piecewise, nested_bracket_scaled
from ..derive.derivation import derive
from ..derive.rank import field_rank
from ..derive.global_search.exact import batch_size
from ..errors import InternalContradiction, SpecError
import os

#: Relative singular values below ZERO are rounding (rows have unit norm; float64 jets carry
#: ~1e-15 relative error per operation, amplified by at most ~1e3 through a few nested levels
#: and ~sqrt(D) by the SVD): they count as 0.  Above SOLID they count as rank.  Anything in
#: between means there is no clear gap and the count is reported as unconfident.
ZERO = 1e-9
SOLID = 1e-6
#: Points with pinned units are counted (every bracket level) only while the first level's upper
#: estimate stays below this; larger models report them in a note instead.
LOCAL_BYTES = 512 * 2**20
#: Machine epsilon: the stand-in for "the next singular value" when a span is full-rank.
EPS = float(np.finfo(float).eps)


@dataclass
class PointReport:
    lie_dim: int
    laws: int
    ranks: list[int]                 # dim V_0(θ), dim V_1(θ), … until it stabilised
    sigma_kept: float                # smallest singular value counted as rank (relative)
    sigma_dropped: float             # largest singular value counted as zero (relative)
    gap: float                       # sigma_kept / max(sigma_dropped, EPS)
    clear: bool
    pinned: list[dict] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)   # coordinates θ_j that are conserved here
    seconds: float = 0.0
    extra_laws: int | None = None    # laws here − generic laws (non-generic points only)
    orbit: int | None = None         # rank of the derived generators X_k(θ) here (gradient flow)
    closed_by: str = "stable"        # "stable": dim V_k stopped growing; "derived bound": it reached
                                     # D − rank of the derived charges' gradients (exact from there)


@dataclass
class CountResult:
    model: str
    flow: str
    parameters: int
    state_dim: int
    laws: int | None
    lie_dim: int | None
    clear: bool
    gap: float | None
    points: list[PointReport]
    local: list[PointReport]
    derived: int | None
    derived_source: str
    complete: bool
    notes: list[str]
    seconds: float
    samples: int
    deriv: object = field(default=None, repr=False)   # the derivation compared with (not in the JSON)

    def to_json(self) -> dict:
        gap = self.gap if self.gap is None or np.isfinite(self.gap) else None
        return {
            "model": self.model, "flow": self.flow, "parameters": self.parameters,
            "state_dim": self.state_dim, "laws": self.laws, "lie_dim": self.lie_dim,
            "derived": self.derived, "derived_source": self.derived_source,
            "complete": self.complete, "unexplained": (None if self.laws is None or self.derived is None
                                                     else self.laws - self.derived),
            "clear_gap": self.clear, "gap": gap, "samples": self.samples,
            "points": [asdict(p) for p in self.points], "local": [asdict(p) for p in self.local],
            "notes": self.notes, "seconds": self.seconds,
        }


# ---------------------------------------------------------------------------------------------
class _Span:
    """An orthonormal basis of span of evaluated fields, grown with gap bookkeeping."""

    def __init__(self, n: int):
        self.n = n
        self.Q = np.zeros((0, n))
        self.kept = np.inf
        self.dropped = 0.0

    @property
    def rank(self) -> int:
        return self.Q.shape[0]

    def add(self, rows: np.ndarray, scale: np.ndarray | None = None) -> int:
        """Add the span of ``rows``; ``scale`` (per row, default its norm) is the size against
        which a row is rounding: a bracket that cancels to ‖row‖ < ZERO·scale is zero, one in
        [ZERO, SOLID)·scale makes the gap unclear (it is kept out of the span)."""
        norms = np.linalg.norm(rows, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):     # 0/0: a vanishing bracket, read as 0
            rel = norms / np.where(scale is None, norms, scale) if scale is not None else (norms > 0) * 1.0
        rel = np.nan_to_num(rel, nan=0.0)
        small = rel < SOLID
        if small.any():
            self.dropped = max(self.dropped, float(rel[small].max()))
        keep = ~small & (norms > 0)
        rows = rows[keep] / norms[keep, None]
        if rows.shape[0] == 0:
            return 0
        R = rows - (rows @ self.Q.T) @ self.Q
        R = R - (R @ self.Q.T) @ self.Q          # second Gram–Schmidt pass
        if R.shape[0] > R.shape[1]:      # tall: same singular values / Vt from the R of a QR
            R = np.linalg.qr(R, mode="r")
        _, s, Vt = np.linalg.svd(R, full_matrices=False)
        new = s > SOLID  # residuals of unit rows: singular values are already relative
        if new.any():
            self.kept = min(self.kept, float(s[new].min()))
        if (~new).any():
            self.dropped = max(self.dropped, float(s[~new].max()))
        k = int(new.sum())
        k = min(k, self.n - self.rank)
        if k:
            self.Q = np.vstack([self.Q, Vt[:k]])
            q, _ = np.linalg.qr(self.Q.T)
            self.Q = q.T
        return k

    @property
    def clear(self) -> bool:
        return self.dropped < ZERO

    @property
    def gap(self) -> float:
        kept = self.kept if np.isfinite(self.kept) else 1.0
        return kept / max(self.dropped, EPS)


def pinned_units(net: Net, theta: np.ndarray, X: np.ndarray) -> list[dict]:
    """Units of piecewise activations (kink at 0) that the samples leave on one side.

    ``dead`` (σ' = 0 on every sample) and ``always-active`` (one polynomial piece on every
    sample, i.e. linear for ReLU) are the local situations of docs/theory.md §9.  A unit with fewer than
    ``fan_in + 2`` samples on one side is ``rarely-active`` / ``rarely-inactive``: the samples do
    not pin down its piece and it too adds data-dependent laws.  Named by the linear layer
    feeding it (1-based, as in the parameter names) and the unit index (0-based).
    """
    if net.generic:
        return net.pinned(theta, X)
    out = []
    fan = {s.index: s.inp + (s.b_off is not None) for s in net.stages if hasattr(s, "w_off")}
    for stage, z in net.preactivations(theta, X):
        if not is_piecewise(stage.expr):
            continue
        fns, _ = activation_derivatives(stage.expr, 1)
        d = np.broadcast_to(np.asarray(fns[1](z), float), z.shape)
        need = fan.get(stage.after, 1) + 2
        for u in range(z.shape[1]):
            col = z[:, u]
            npos, nneg = int(np.sum(col > 0)), int(np.sum(col < 0))
            if min(npos, nneg) >= need:
                continue
            side = "positive" if npos >= nneg else "negative"
            dead = bool(np.all(d[col > 0 if side == "positive" else col < 0, u] == 0))
            if min(npos, nneg) == 0:
                kind = "dead" if dead else "always-active"
            else:
                kind = "rarely-active" if dead else "rarely-inactive"
            out.append({"layer": stage.after, "unit": u, "kind": kind,
                        "name": f"layer {stage.after} unit {u}", "positive_samples": npos,
                        "negative_samples": nneg})
    return out


def loss_directions(model, rng: np.random.Generator, trials: int = 4) -> np.ndarray:
    """Orthonormal basis U (k × r) of the output gradients ∂ℓ/∂f the targets can produce.

    The fields of the count are θ ↦ ∇_θ ℓ(f(θ, x), y) over inputs *and* targets
    (Marcotte, Gribonval, Peyré 2023, §2); each is J(θ, x)ᵀ g with g = ∂ℓ/∂f, so the module they
    span at θ is {J(θ, x)ᵀ u : u ∈ span_y ∂ℓ/∂f}.  The span is read from the loss's own gradient
    at random outputs and targets (no per-loss rule): MSE gives all of R^k (Jacobian rows),
    softmax cross-entropy the sum-zero vectors.  A span that changes with the output is refused.
    """

    k = model.output
    bases = []
    for _ in range(trials):
        F = rng.standard_normal((4 * k + 4, k))
        Y = rng.standard_normal((4 * k + 4, k))
        G = model.loss.grad(F, Y) * F.shape[0]
        _, s, Vt = np.linalg.svd(G, full_matrices=False)
        r = int(np.sum(s > SOLID * s[0])) if s.size and s[0] > 0 else 0
        bases.append(Vt[:r].T)
    U = bases[0]
    for B in bases[1:]:
        if B.shape[1] != U.shape[1] or np.linalg.norm(B - U @ (U.T @ B)) > 1e-8 * max(1, U.shape[1]):
            raise SpecError("loss", f"{model.loss_name!r}: the output gradients span a subspace that "
                            "changes with the output; count supports losses with a fixed one (mse, cross_entropy)")
    return U


def n_samples(net: Net, state_dim: int) -> int:
    """Inputs per point: enough Jacobian rows (P·k) to span up to the state dimension twice."""
    return _samples(net.k, state_dim)


def _samples(k: int, state_dim: int) -> int:
    return int(max(64, np.ceil(4 * state_dim / k) + 16))


def _orbit_note(cands: list, n: int, name: str, notes: list) -> None:
    """Compare the derived generators' orbit with the directions that keep every sample's loss.

    Each X_k(θ) satisfies S·J(θ, x)·X_k(θ) = 0, so the orbit lies in the null space of V_0(θ), of
    dimension n − dim V_0(θ).  Equal: no direction that keeps every loss is missed by the derived
    algebra.  Smaller: said in a note, without a verdict (a 3-unit layer norm has 3 such directions
    more, and its count still equals its derived charges: the brackets remove them).  Larger: a
    derived generator changes a loss, a bug."""
    pts = [p for p in cands if p.orbit is not None and p.clear]    # ranks read with a clear gap only
    if not pts:
        return
    free = [n - p.ranks[0] for p in pts]
    if any(p.orbit > f for p, f in zip(pts, free)):
        raise InternalContradiction(f"{name}: the derived generators span more directions at a point than "
                                    "keep every sample's loss there")
    missing = max(f - p.orbit for p, f in zip(pts, free))
    if missing:
        notes.append(f"{missing} direction(s) keep every sample's loss to first order at a counted point but are "
                     "not spanned by the derived generators (symmetries beyond the linear algebra, generators "
                     "not found, or directions the brackets remove)")
    else:
        notes.append(f"orbit: the derived generators span all {free[0]} directions that keep every sample's loss "
                     "at the counted points")


def grad_field_in_passes(net, pt: dict, rho: np.ndarray, X: np.ndarray, chunk: int) -> dict:
    """The field X_ρ at the jet point ``pt``, summed over the samples in passes of ``chunk`` (the
    jets of one pass scale with its samples; the sum is the same up to reassociation)."""
    P = X.shape[0]
    if chunk >= P:
        return net.grad_field(pt, rho, X)
    out: dict = {}
    for s in range(0, P, chunk):
        for m, v in net.grad_field(pt, rho[:, s:s + chunk], X[s:s + chunk]).items():
            out[m] = out[m] + v if m in out else v
    return out


def lie_rank(net: Net, theta: np.ndarray, X: np.ndarray, rng: np.random.Generator,
             flow: str = "gradient", gamma: float = 1.0, v: np.ndarray | None = None,
             max_levels: int = 12, oversample: int = 8, U: np.ndarray | None = None,
             bound: int | None = None) -> PointReport:
    """dim Lie(V) at one point (θ, or (0, θ, v) for momentum) for the samples ``X``; ``U``
    (k × r, default identity) the output directions of the loss (:func:`loss_directions`).

    ``bound``: an upper bound on dim Lie(V)(θ) known independently, D − rank{∇C_i(θ)} for
    exactly conserved C_i (each ∇C_i is orthogonal to every field, hence to every bracket).
    Once the span reaches it the rank is exact and no further level is evaluated; a span past
    it is an :class:`InternalContradiction`."""
    t0 = time.perf_counter()
    D, P, k = net.D, X.shape[0], net.k
    U = np.eye(k) if U is None else U
    proj = U @ U.T
    J = np.einsum("kr,pkd->prd", U, net.jacobian(theta, X).reshape(P, k, D)).reshape(-1, D)
    chunk = P          # samples per pass of the fields; fewer when a bracket level would not fit

    def grad_field(pt, rho):
        return grad_field_in_passes(net, pt, rho, X, chunk)

    if flow == "gradient":
        n = D
        base = J
        point0 = theta

        def field(c, pt):
            return grad_field(pt, c)

        def draw(N):
            return rng.standard_normal((N, P, k)) @ proj
    elif flow == "momentum":
        n = 2 * D + 1
        if v is None:
            v = rng.standard_normal(D)
        F0 = np.concatenate([[1.0], v, -gamma * v])
        base = np.vstack([F0, np.hstack([np.zeros((J.shape[0], D + 1)), J])])
        point0 = np.concatenate([[0.0], theta, v])

        def field(c, pt):
            cf, rho = c
            th = {m: a[:, 1:D + 1] for m, a in pt.items()}
            gx = grad_field(th, rho)
            out = {}
            for m, a in pt.items():
                o = np.zeros_like(a)
                if m == 0:
                    o[:, 0] = cf
                vv = a[:, D + 1:]
                o[:, 1:D + 1] = cf[:, None] * vv
                o[:, D + 1:] = -gamma * cf[:, None] * vv
                out[m] = o
            for m, g in gx.items():
                if m not in out:
                    out[m] = np.zeros((g.shape[0], n))
                out[m][:, D + 1:] += g
            return out

        def draw(N):
            return (rng.standard_normal(N), rng.standard_normal((N, P, k)) @ proj)
    else:
        raise ValueError(flow)

    span = _Span(n)
    span.add(base)
    ranks = [span.rank]
    closed = "stable"
    for level in range(1, max_levels + 1):
        if bound is not None and span.rank > bound:
            raise InternalContradiction(f"{net.model.name}: the gradient fields span {span.rank} directions at a "
                                        f"point, but the derived charges leave room for only {bound}")
        if bound is not None and span.rank == bound and span.clear:
            closed = "derived bound"
            break
        if span.rank == n:
            break
        N = n - span.rank + oversample
        # the level's jets (2^level nilpotent masks) must fit before any of them is built: in
        # passes over fewer samples if need be, refused if not even one sample fits
        chunk = level_chunk(net, n, P, N, level, oversample)
        if chunk < 1:
            _refuse(level_bytes(net, n, 1, N, level, oversample, P), D, P, f"bracket level {level} of the count")
        coeffs = [draw(N) for _ in range(level + 1)]
        pt = {0: np.broadcast_to(point0, (N, n)).copy()}
        vals, scale = nested_bracket_scaled(field, coeffs, pt)
        added = span.add(vals, scale)
        ranks.append(span.rank)
        if added == 0:
            break
    frozen = []
    if flow == "gradient":
        colnorm = np.linalg.norm(span.Q, axis=0) if span.rank else np.zeros(n)
        frozen = [net.model.parameters[j] for j in np.flatnonzero(colnorm < 1e-8)]
    return PointReport(lie_dim=span.rank, laws=n - span.rank, ranks=ranks, closed_by=closed,
                       sigma_kept=float(span.kept) if np.isfinite(span.kept) else 1.0,
                       sigma_dropped=float(span.dropped), gap=float(span.gap), clear=span.clear,
                       frozen=frozen, seconds=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------
def _derivation(model):
    """(derive(model), None), or (None, why) when the derivation fails: a count never hides behind it."""
    try:
        return derive(model), None
    except Exception as exc:  # noqa: BLE001 - a derivation failure must not hide the count
        return None, f"noether.derive failed ({type(exc).__name__}: {exc})"


def polynomial_pieces(model) -> bool:
    """True for linear and elementwise models whose activations are polynomial on each side of 0:
    their count can be redone in exact rational arithmetic (:mod:`.exact`)."""
    return Net.unsupported(model) is None and Net(model).polynomial_pieces


def derived_count(model, flow: str, rng: np.random.Generator, gamma: float = 1.0,
                  d=None) -> tuple[int | None, str]:
    """Independent charges explained by linear+affine symmetries, and where the number came from.

    Gradient flow: ``derive(model).n_independent_charges``.  Momentum: the functionally
    independent Noether charges e^{γt}(Aθ + c)·θ̇ of the generators with antisymmetric A, whose
    source vanishes (docs/theory.md §6; Marcotte, Gribonval, Peyré, ICML 2024).  ``d``: a
    derivation already made.
    """

    if d is None:
        d, why = _derivation(model)
        if d is None:
            return None, why
    if flow == "gradient":
        n = d.n_independent_charges
        return (int(n), "noether.derive") if n is not None else (None, "model too large for explicit charges")
    n = d.n_independent_noether_charges(gamma)
    return (int(n), "noether.derive (Noether charges of antisymmetric generators)") if n is not None \
        else (None, "model too large for explicit generators")


def derived_bound(d, theta: np.ndarray) -> int | None:
    """D − rank{∇C_i(θ)} over the derived charges: an upper bound on dim Lie(V)(θ) (each ∇C_i is
    orthogonal to every gradient field and so to every bracket).  None without explicit charges
    or without a clear rank gap (the charges' gradients are exact small-integer-coefficient
    fields, so a clear gap is the rule)."""
    if d is None or not d.charges:
        return None
    G = np.array([c.generator.evaluate(theta) for c in d.charges])
    s = np.linalg.svd(G, compute_uv=False)
    if not s.size or s[0] == 0:
        return None
    r = int(np.sum(s > ZERO * s[0]))
    if np.any((s > ZERO * s[0]) & (s < SOLID * s[0])):
        return None
    return theta.size - r


def centred(net: Net, theta: np.ndarray, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """θ with the bias of every unit feeding a kinked activation moved near the median of its
    pre-activation over the samples (plus a random offset), so each such unit splits the samples.
    This selects an open set of parameters where every unit is exercised by the data, where
    the generic (maximal) rank is attained; it changes nothing for units without bias.  Models
    counted on their expression graph are left as drawn."""
    if net.generic:
        return theta
    theta = theta.copy()
    h = X
    for i, s in enumerate(net.stages):
        if isinstance(s, ActStage):
            fns, _ = activation_derivatives(s.expr, 0)
            h = np.broadcast_to(np.asarray(fns[0](h), float), h.shape)
            continue
        W = theta[s.w_off:s.w_off + s.out * s.inp].reshape(s.out, s.inp)
        z = h @ W.T
        nxt = net.stages[i + 1] if i + 1 < len(net.stages) else None
        if s.b_off is not None and isinstance(nxt, ActStage) and is_piecewise(nxt.expr):
            theta[s.b_off:s.b_off + s.out] = -np.median(z, axis=0) + 0.2 * np.std(z, axis=0) * rng.standard_normal(s.out)
        h = z + (theta[s.b_off:s.b_off + s.out] if s.b_off is not None else 0.0)
    return theta


def available_bytes() -> int:
    """Memory the machine can give now (MemAvailable, else physical pages)."""

    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def estimate_bytes(net: Net, n: int, P: int, oversample: int = 8) -> tuple[int, int]:
    """(certain, level-1) bytes of one point.  ``certain`` is what every count allocates: the
    Jacobian (P·k × D) and its loss-projected copy.  ``level1`` bounds the first bracket level
    from above: every stage's (N, P, width) input and pre-activation with 2 nilpotent masks at
    N = n + oversample brackets (N shrinks by the rank of V_0, which is unknown before the work)."""
    if net.generic:
        return net.estimate_bytes(n, P, oversample)
    widths = sum(s.out + s.inp for s in net.stages if not isinstance(s, ActStage))
    certain = 8 * 2 * P * net.k * net.D
    return certain, certain + 8 * (3 * n * n + 2 * 2 * (n + oversample) * P * widths)


def level_bytes(net: Net, n: int, P: int, N: int, level: int, oversample: int = 8,
                samples: int | None = None) -> int:
    """Bytes of bracket level ``level`` with N brackets, its fields evaluated in passes of P
    samples (of ``samples``, default P, whose Jacobian is kept): the certain part plus the first
    level's jets scaled by N / (n + oversample) and doubled per further level (one nilpotent mask
    bit more each)."""
    samples = samples or P
    certain = estimate_bytes(net, n, samples, oversample)[0]
    jets = estimate_bytes(net, n, P, oversample)
    return int(certain + (jets[1] - jets[0]) * 2 ** (level - 1) * N / (n + oversample))


def level_chunk(net: Net, n: int, P: int, N: int, level: int, oversample: int = 8) -> int:
    """The most samples per pass with which bracket level ``level`` fits in the free memory
    (P when it fits whole; 0 when not even one sample does)."""
    have = available_bytes()
    if level_bytes(net, n, P, N, level, oversample) <= have:
        return P
    one = level_bytes(net, n, 1, N, level, oversample, P)
    certain = estimate_bytes(net, n, P, oversample)[0]
    return 0 if one > have else int(min(P, (have - certain) // max(1, one - certain)))


def make_net(model, flow: str = "gradient"):
    """The net the fields are evaluated on: matrix products for linear and elementwise layers
    (:class:`.jets.Net`), the model's expression graph for every other layer type
    (:class:`.graph.GraphNet`).  The Jacobian the count needs is checked against free memory
    before the graph is built (that is the part that grows with width)."""
    if Net.unsupported(model) is None:
        return Net(model)
    k = model.output * batch_size(model)
    n = model.D if flow == "gradient" else 2 * model.D + 1
    P = _samples(k, n)
    _refuse(8 * 3 * P * k * model.D, model.D, P)
    return GraphNet(model)


def _refuse(need: int, D: int, P: int, what: str = "counting") -> None:
    have = available_bytes()
    if need > have:
        # P grows linearly with D, so the Jacobian grows like D²: the D that fits at these widths
        fit = int(D * (have / need) ** 0.5)
        raise SpecError("model", f"{what} needs at least {need / 2**30:.1f} GiB (D = {D}, {P} inputs per "
                        f"point), {have / 2**30:.1f} GiB is available; at these widths about D <= {fit} fits")


def check_fits(net: Net, n: int, P: int) -> None:
    """Refuse up front (SpecError, one line) a count whose certain memory exceeds what is free."""
    _refuse(estimate_bytes(net, n, P)[0], net.D, P)


def count_laws(model, flow: str = "gradient", points: int = 3, seed: int = 0, gamma: float = 1.0,
               max_tries: int | None = None, max_local: int = 3, with_derived: bool = True,
               samples: int | None = None) -> CountResult:
    """Count the independent conservation laws of ``model`` under ``flow`` (see module doc).

    ``points`` random points are evaluated (more, up to ``max_tries``, until two agree on the
    maximal rank).  For kinked activations with biases, each point's biases are re-centred on
    the samples (:func:`centred`); plain random points with dead / always-active units are
    evaluated too (up to ``max_local``) and reported in ``local`` with their extra laws.
    """

    t0 = time.perf_counter()
    if flow not in ("gradient", "momentum"):
        raise SpecError("--flow", f"must be 'gradient' or 'momentum', got {flow!r}")
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise SpecError("--points", f"must be a positive integer, got {points!r}")
    net = make_net(model, flow)
    n = net.D if flow == "gradient" else 2 * net.D + 1
    P = samples or n_samples(net, n)
    check_fits(net, n, P)
    if flow == "momentum":
        # the lifted fields span at most 1 + D of the 2D + 1 directions: the first bracket level
        # is always evaluated, so it must fit too (a 3466-parameter net needed 119 GiB there and
        # was killed by the kernel at 24 GB instead of refused)
        _refuse(estimate_bytes(net, n, P)[1], net.D, P, "the momentum count's first bracket level")
    max_tries = max_tries or 10 * points + 20
    rng = np.random.default_rng(seed)
    U = loss_directions(model, np.random.default_rng([seed, 1]))
    if net.k != model.output:     # a sample is a batch (batch-coupled layers): one loss per input
        U = np.kron(np.eye(net.k // model.output), U)
    cands: list[PointReport] = []
    local: list[PointReport] = []
    notes: list[str] = []
    if net.k != model.output:
        notes.append(f"batch-coupled layers: a sample is a batch of {net.k // model.output} inputs, as in the derivation")
    d, why = _derivation(model) if with_derived else (None, None)
    bound = (lambda th: derived_bound(d, th)) if flow == "gradient" else (lambda th: None)
    # a point with pinned units needs every bracket level (its local laws keep it below the
    # bound): evaluated only while its first level is small
    local_ok = estimate_bytes(net, n, P)[1] <= LOCAL_BYTES
    skipped_local = 0
    tries = 0
    while tries < max_tries:
        if len(cands) >= points:
            best = max(p.lie_dim for p in cands)
            if sum(p.lie_dim == best for p in cands) >= min(2, points):
                break
        tries += 1
        theta = model.init(rng)
        X = rng.standard_normal((P, net.d_in))
        v = rng.standard_normal(net.D) if flow == "momentum" else None
        pins = pinned_units(net, theta, X)
        if pins and len(local) < max_local and local_ok:
            rep = lie_rank(net, theta, X, rng, flow, gamma, v, U=U, bound=bound(theta))
            rep.pinned = pins
            local.append(rep)
        elif pins:
            skipped_local += 1
        if net.piecewise:
            theta = centred(net, theta, X, rng)
            pins = pinned_units(net, theta, X)
        if pins:
            continue
        cands.append(lie_rank(net, theta, X, rng, flow, gamma, v, U=U, bound=bound(theta)))
        if flow == "gradient" and d is not None and d.algebra.explicit:
            cands[-1].orbit = field_rank(d.algebra.generators, theta).rank
    laws = lie_dim = gap = None
    clear = False
    if cands:
        lie_dim = max(p.lie_dim for p in cands)   # the generic rank is the maximal one
        laws = n - lie_dim
        agree = sum(p.lie_dim == lie_dim for p in cands)
        clear = all(p.clear for p in cands) and agree >= min(2, points)
        gap = min(p.gap for p in cands)
        if not all(p.clear for p in cands):
            notes.append("no clear singular-value gap at some point: the count is not confident")
        if agree < min(2, points):
            notes.append(f"only one of {len(cands)} points reached dim Lie = {lie_dim}: not confident")
        low = [p for p in cands if p.lie_dim < lie_dim]
        if low:
            notes.append(f"{len(low)} point(s) had a lower rank (data-dependent local laws); "
                         "the maximal rank is the generic one")
        for p in local + cands:
            p.extra_laws = p.laws - laws
    else:
        notes.append(f"no point without dead/always-active units in {tries} draws: no generic count")
    if skipped_local and not local_ok:
        notes.append(f"{skipped_local} random point(s) had pinned units; their local laws are not counted at "
                     f"D = {net.D} (`noether local` counts them for given data)")
    if any(p.closed_by == "derived bound" for p in cands):
        notes.append("dim Lie reached D − rank of the derived charges' gradients: exact there, no further "
                     "bracket level was needed")
    _orbit_note(cands, n, model.name, notes)
    derived, source = (None, "not computed")
    if with_derived:
        derived, source = derived_count(model, flow, np.random.default_rng(seed + 1), gamma, d) \
            if d is not None else (None, why)
    if clear and laws is not None and derived is not None and derived > laws:

        raise InternalContradiction(f"{model.name}: {derived} independent derived charges [{source}] but only "
                                    f"{laws} conservation laws counted ({flow} flow)")
    complete = bool(clear and laws is not None and derived is not None and derived == laws)
    return CountResult(model=model.name, flow=flow, parameters=net.D, state_dim=n, laws=laws,
                       lie_dim=lie_dim, clear=clear, gap=gap, points=cands, local=local,
                       derived=derived, derived_source=source, complete=complete, notes=notes,
                       seconds=time.perf_counter() - t0, samples=P, deriv=d)
