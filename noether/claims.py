"""Claims about a model, searched for counterexamples with hypothesis (``noether claim``).

A claim is either *invariance* of the loss under a finite map of named blocks
(``"W1 -> 2*W1; b1 -> 2*b1; W2 -> W2/2"``, slices allowed, free scalar ``t`` drawn too), or
*conservation* of an expression of the parameters under gradient flow or per step of an
optimizer, optionally following a stated law (``"derived"``: the law derived by
:mod:`noether.derive.laws` for C's quadratic form; or an expression in θ_k, g_k, the optimizer
state and ``eta``).  Strings go through :mod:`noether.testing.arrayexpr`, i.e. the allow-list
parser; nothing is evaluated as code.  Hypothesis draws parameters and data, and on failure
shrinks them; the last failure it reports is the shrunk counterexample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from .errors import SpecError
from .testing import strategies as S
from .testing.arrayexpr import ArrayExpr, BlockContext
from .testing.assertions import ClaimFailure, assert_conserved, assert_invariant, assert_law
from .testing.charge import quantity
from .testing.search import find_counterexample
from .testing.target import Layout
from .testing.transforms import BlockMap
from .testing.stepping import make_rule


@dataclass
class Claim:
    map: str | None = None
    conserved: str | None = None
    optimizer: str = "gf"
    law: str | None = None
    lr: float = 0.05
    steps: int = 5
    hyper: dict = field(default_factory=dict)
    t_range: tuple[float, float] = (-1.0, 1.0)
    bound: float = 2.0
    max_samples: int = 4


@dataclass
class ClaimResult:
    holds: bool
    text: str
    examples: int
    seed: int
    failure: ClaimFailure | None = None

    def report(self) -> str:
        if self.holds:
            return (f"claim: {self.text}\nholds: no counterexample in {self.examples} examples "
                    f"(seed {self.seed})")
        return f"FALSE: shrunk counterexample (seed {self.seed})\n{self.failure}"


def _check_claim_fields(c: Claim) -> None:
    if (c.map is None) == (c.conserved is None):
        raise SpecError("claim", "give exactly one of --map or --conserved")
    if c.map is not None and (c.optimizer != "gf" or c.law is not None):
        raise SpecError("--optimizer", "--optimizer and --law apply to --conserved claims only")
    if c.law is not None and c.optimizer == "gf":
        raise SpecError("--law", "a stated law needs --optimizer (gradient flow conserves exactly)")
    lo, hi = c.t_range
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise SpecError("--t-range", f"must be LO,HI with finite LO <= HI, got {lo},{hi}")
    if not (np.isfinite(c.bound) and c.bound > 0):
        raise SpecError("--bound", f"must be a finite number > 0, got {c.bound}")
    if not (np.isfinite(c.lr) and c.lr > 0):
        raise SpecError("--lr", f"must be a finite number > 0, got {c.lr}")


def _law_callable(text: str, layout: Layout, rule):
    """A stated law: ΔC as an expression in θ_k blocks, g_<block>, <state>_<block> and eta."""
    blocks = dict(layout.blocks)
    for prefix in ("g", *rule.state):
        blocks.update({f"{prefix}_{n}": s for n, s in layout.blocks.items()})
    ctx = BlockContext(blocks, scalars=("eta",))
    expr = ArrayExpr.parse(text, ctx, "--law").scalar()
    fn = sp.lambdify([ctx.symbols, [ctx.scalars["eta"]]], expr, modules="numpy")
    D = layout.D

    def law(step):
        vals = [step["theta"]] + [step[p] for p in ("g", *rule.state)]
        flat = np.concatenate([np.asarray(v, dtype=float).reshape(-1)[:D] for v in vals])
        return float(fn(list(flat), [rule.lr]))

    return law


def claim_text(model, c: Claim) -> str:
    if c.map is not None:
        return f"the loss of {model.name} is invariant under {c.map.strip()}"
    under = "gradient flow" if c.optimizer == "gf" else f"{c.optimizer} (lr={c.lr:g})"
    law = "" if c.law is None else (" following the derived law" if c.law == "derived"
                                   else f" with C_k+1 - C_k = {c.law}")
    return f"{c.conserved.strip()} is conserved under {under}{law}"


def build_check(model, c: Claim):
    """Parse the claim once; return (text, uses_t, check(theta, X, Y, t))."""
    _check_claim_fields(c)
    text = claim_text(model, c)
    layout = Layout.of_model(model)
    if c.map is not None:
        bm = BlockMap(c.map, BlockContext(layout.blocks), "--map")

        def check(theta, X, Y, t):
            assert_invariant(model, bm.with_t(t), theta, X, Y, claim=text)
        return text, bm.uses_t, check
    q = quantity(c.conserved, layout, layout.unflatten)   # parse errors surface now
    if c.optimizer == "gf":
        def check(theta, X, Y, t):
            assert_conserved(model, q, theta, X, Y, claim=text)
        return text, False, check
    rule = make_rule(c.optimizer, c.lr, c.hyper)
    if c.law == "derived":
        form = q.quadratic_form()
        if form is None:
            raise SpecError("--law", "'derived' needs a charge of degree <= 2 (C = ½θᵀAθ + cᵀθ)")
        A, cc = form

        def check(theta, X, Y, t):
            assert_law(model, theta, X, Y, optimizer=rule, steps=c.steps, charges=[(c.conserved, A, cc)],
                       claim=text)
        return text, False, check
    law = _law_callable(c.law, layout, rule) if c.law is not None else None

    def check(theta, X, Y, t):
        assert_conserved(model, q, theta, X, Y, optimizer=rule, lr=c.lr, steps=c.steps, law=law,
                         claim=text)
    return text, False, check


def check_claim(model, claim: Claim, examples: int = 100, seed: int = 0) -> ClaimResult:
    """Search ``examples`` hypothesis examples for a counterexample; shrink the first one found."""
    if examples <= 0:
        raise SpecError("--examples", f"must be a positive integer, got {examples}")
    text, uses_t, check = build_check(model, claim)
    ts = S.floats(1.0).map(lambda u: claim.t_range[0] + (u + 1) / 2 * (claim.t_range[1] - claim.t_range[0])) \
        if uses_t else st.just(0.0)
    failure = find_counterexample(
        lambda theta, data, t: check(theta, data[0], data[1], t), examples=examples, seed=seed,
        theta=S.parameters(model, bound=claim.bound), data=S.batches(model, samples=(1, claim.max_samples), bound=claim.bound), t=ts)
    return ClaimResult(failure is None, text, examples, seed, failure)
