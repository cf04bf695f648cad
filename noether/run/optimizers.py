"""Any optimizer rule (noether/optim) run through its generated kernel, with seeded minibatches.

The exact law of the rule, when it closes, is checked at every step inside the kernel; the run
records θ_k, the optimizer state, the gradients and the batch rows so that every law can also be
rechecked independently from the saved arrays (:mod:`noether.run.recheck`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from .chunks import batch_pass
from ..kernels.rule_code import rule_variants
from ..kernels.loops import CHARGES, LAW, STEP, bind, no_charges, run_rule
from ..optim import HYPER
from ..optim.base import update_signature


@dataclass
class OptRun:
    rule: object
    steps: int
    completed: int
    theta: np.ndarray | None       # (completed+1, D)
    state: np.ndarray | None       # (completed+1, n_state, D)
    grad: np.ndarray | None        # (completed, D): g_k, the (batch) gradient at θ_k
    batch_index: np.ndarray | None  # (steps, batch) rows used at step k (SGD)
    charges: np.ndarray            # (completed+1, n_charges)
    losses: np.ndarray
    step_resid: np.ndarray
    charge_resid: np.ndarray
    law_checked: bool

    @property
    def diverged(self) -> bool:
        return self.completed < self.steps


def batches(n_data: int, batch: int, steps: int, seed: int) -> np.ndarray:
    """Rows of each step's batch, without replacement within a step, from ``seed``."""
    if not 0 < batch <= n_data:
        raise SpecError("--batch", f"must be between 1 and the data size {n_data}, got {batch}")
    rng = np.random.default_rng([seed, 3])
    return np.stack([rng.choice(n_data, batch, replace=False) for _ in range(steps)]).astype(np.int64)


def _rule_functions(kernels, rule):
    """The generated law and step of ``rule``'s variant, bound for the rule runner, its law's scratch
    rows, whether that law closes and the charge parts it calls, after checking that the kernel is
    printed from the same update: a subclass that keeps a registered ``name`` but changes
    ``update()`` would otherwise run the registered rule's dynamics.  The variant's module is generated on the first run that asks
    for it (:meth:`noether.kernels.Kernels.rule_module`)."""
    ref = rule_variants().get(rule.variant)
    if ref is None or update_signature(rule) != update_signature(ref):
        raise SpecError("optimizer", f"no generated kernel for this {type(rule).__name__} rule (variant "
                        f"{rule.variant!r}); accepted: a rule registered under its own name, or one of "
                        + ", ".join(sorted(rule_variants())))
    # hyperparameters that are exactly 0 in this run are printed as 0 (a module per pattern): the
    # law terms they switch off are then neither compiled nor computed
    zero = frozenset(n for n, v in zip(HYPER, rule.hp()) if v == 0.0)
    mod = kernels.rule_module(ref, zero)
    var = rule.variant
    # the kernel was printed from the variant's law; its module says whether that law closes
    return (bind(getattr(mod, f"lawv_{var}"), LAW), bind(getattr(mod, f"step_{var}"), STEP),
            int(mod.LAW_ROWS), bool(getattr(mod, f"LAW_CLOSED_{var}")), set(mod.LAW_PARTS))


#: the model's charges, their rounding scale, and their quadratic and linear parts (the law's atoms)
CHARGE_PARTS = ("charges", "charges_abs", "charges_quad", "charges_lin")


def _writable(a) -> np.ndarray:
    """``a`` as a C-contiguous, writable float64 array (the compiled loops' argument type)."""
    return np.require(a, dtype=np.float64, requirements=["C", "W"])


def run_optimizer(kernels, rule, theta0, X, Y, steps: int, batch: int | None = None, seed: int = 0,
                  record: bool = True, parallel: bool | None = None, state0=None,
                  check_law: bool = True, record_grad: bool | None = None) -> OptRun:
    """Run ``rule`` (gradient descent included) for ``steps`` steps from θ₀ (and optimizer state
    ``state0``, (n_state, D); zeros by default), every charge recorded and the rule's exact law
    checked when it closes and ``check_law``.  Step 0 is still the rule's first step
    (``first`` = 1, k = 0: no dampening, Adam's bias correction from the start) with the given
    state, not a resumed run.  ``record``: θ and the state at every step; ``record_grad`` (default
    ``record``): the gradients too.

    ``parallel``: True splits the batch in row chunks over the cores whenever the model allows,
    False never, None by size (:func:`noether.run.chunks.batch_pass`); results do not depend on
    the thread count, only on the chunking."""
    nC = len(kernels.layout.names)
    D = theta0.shape[0]
    nS = len(rule.state)
    record_grad = record if record_grad is None else record_grad
    if batch is None and rule.minibatch:
        batch = X.shape[0]
    use_batch = batch is not None
    bidx = batches(X.shape[0], batch, steps, seed) if use_batch else np.zeros((1, 1), np.int64)
    S0 = np.zeros((nS, D))
    if state0 is not None:
        s0 = np.asarray(state0, dtype=float)
        if s0.shape != (len(rule.state), D):
            raise SpecError("state0", f"must have shape (n_state, D) = ({len(rule.state)}, {D}) for "
                            f"{rule.name}, got {s0.shape}")
        S0[:len(rule.state)] = s0
    # rows 0..done (0..done-1 for grads and losses) are written by the loop, and only they are returned
    thetas = np.empty((steps + 1, D) if record else (1, D))
    states = np.empty((steps + 1, nS, D) if record else (1, nS, D))
    grads = np.empty((steps, D) if record_grad else (1, D))
    Cs = np.empty((steps + 1, nC))
    losses = np.empty(steps)
    step_resid = np.zeros(steps)
    charge_resid = np.zeros(nC)
    ps = batch_pass(kernels, batch if use_batch else X.shape[0], D, parallel)
    law, step, law_rows, closed, parts = _rule_functions(kernels, rule)
    mod = kernels.module
    check = bool(closed and check_law)
    with ps.threads():
        # a charge part the law does not call is not compiled: a shared no-op stands in for it
        charge_fns = [bind(getattr(mod, f), CHARGES) if f in parts | {"charges", "charges_abs"} else no_charges
                      for f in CHARGE_PARTS]
        done = int(run_rule(ps.loss_grad(mod), law, step, *charge_fns,
                            _writable(theta0), S0, _writable(X), _writable(Y), _writable(rule.hp()), int(steps),
                            bidx, use_batch, ps.ws, check, bool(record), bool(record_grad), thetas, states,
                            grads, Cs, losses, step_resid, charge_resid, ps.gparts, law_rows))
    # a diverged run keeps its partial trajectory: the steps up to the first non-finite value
    return OptRun(rule, steps, done, thetas[:done + 1] if record else None,
                  states[:done + 1] if record else None, grads[:done] if record_grad else None,
                  bidx if use_batch else None, Cs[:done + 1], losses[:done], step_resid[:done],
                  charge_resid, check)
