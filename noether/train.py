"""Training runs with symmetry interventions: the composer behind ``noether train``.

The run is the generated optimizer kernel (:func:`noether.run.optimizers.run_optimizer`) in
segments between interventions, so every derived law is checked at every step of a segment as
``verify`` does.  At an intervention (``teleport_at``, every ``teleport_every`` or
``balance_every`` steps) the parameters move by an exact group element (:mod:`noether.teleport`)
and the optimizer state is transported with them: gradient-like state (heavy-ball velocity, Adam's
first moment) by the inverse transpose of the linear part.  Adam's second moment transforms only
under diagonal elements (by e^{-2s}); under any other element it is kept and this is reported.
The charges' jumps at each intervention are recorded.  Teleporting at the start of training follows
Zhao et al. (NeurIPS 2022); balancing every K steps is the gradient-norm balancing of rescalings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .errors import SpecError
from .teleport import Setup, teleport
from .run.optimizers import run_optimizer

#: an optimizer law residual above this fails the run, as in ``verify`` (TOL of the exact laws)
LAW_TOL = 1e-10
#: steps per segment at most: the target loss is looked for between segments
SEGMENT = 50


@dataclass
class TrainResult:
    theta: np.ndarray
    losses: np.ndarray
    times: np.ndarray                  # seconds since the start, at each recorded loss
    steps_run: int
    steps_to_target: int | None
    seconds: float
    teleports: list = field(default_factory=list)
    law_max_residual: float = 0.0
    law_checked: bool = True
    notes: list = field(default_factory=list)
    diverged_at: int | None = None     # the step whose update was non-finite (the run stops before it)
    runs: list = field(default_factory=list)   # the recorded segments, with ``keep_runs``

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1]) if len(self.losses) else float("nan")

    @property
    def ok(self) -> bool:
        return bool(self.diverged_at is None and self.law_max_residual <= LAW_TOL
                    and all(t["ok"] for t in self.teleports))

    def to_json(self) -> dict:
        return {"steps_run": self.steps_run, "final_loss": self.final_loss,
                "steps_to_target": self.steps_to_target, "seconds": self.seconds,
                "teleports": self.teleports, "law_max_residual": self.law_max_residual,
                "law_tolerance": LAW_TOL, "law_checked": self.law_checked, "notes": self.notes,
                "diverged_at": self.diverged_at, "ok": self.ok}


def intervention_steps(steps: int, teleport_at=(), teleport_every: int | None = None,
                       balance_every: int | None = None) -> dict[int, str]:
    """{step: "teleport" | "balance"} for 0 ≤ step < steps (a teleport wins a tie).  Balancing,
    like ``teleport_every``, starts at step 0: a badly balanced start can diverge within K steps."""
    out: dict[int, str] = {}
    if balance_every:
        out.update({k: "balance" for k in range(0, steps, balance_every)})
    tele = set(int(k) for k in teleport_at)
    if teleport_every:
        tele |= set(range(0, steps, teleport_every))
    for k in tele:
        if k < 0:
            raise SpecError("--teleport-at", f"steps must be >= 0, got {k}")
        if k < steps:
            out[k] = "teleport"
    return out


def transport_state(rule, state, elem, diagonal_only: bool, notes: list):
    """Optimizer state carried through the group element ``elem`` (see the module docstring)."""
    if state is None or not len(rule.state):
        return state
    out = np.array(state, copy=True)
    for i, name in enumerate(rule.state):
        if rule.name.startswith("adam") and name != "m":
            if diagonal_only:
                out[i] = elem.covector(elem.covector(np.ones_like(out[i]))) * out[i]
            elif "adam second moment" not in " ".join(notes):
                notes.append("adam second moment not transported (element not diagonal): the Adam "
                             "update is not covariant under this group")
        else:
            out[i] = elem.covector(out[i])
    return out


def train(setup: Setup, rule, steps: int, interventions: dict[int, str] | None = None,
          objective: str = "grad_norm_max", teleport_steps: int = 10, target_loss: float | None = None,
          seed: int = 0, progress=None, teleport_step_size: float = 0.1, keep_runs: bool = False) -> TrainResult:
    """Train with ``rule`` for ``steps`` steps, intervening at ``interventions`` ({step: kind}).
    A non-finite step stops the run: ``diverged_at`` names it and θ, the losses (and, with
    ``keep_runs``, the recorded segments for :mod:`noether.local_laws`) are those before it."""
    k, X, Y = setup.kernels, setup.X, setup.Y
    interventions = interventions or {}
    theta, state = setup.theta.copy(), None
    losses, times, tele, notes = [], [], [], []
    resid, checked = 0.0, True
    if rule.name.startswith("adam") and interventions:
        notes.append("adam: each segment restarts the bias correction (step 0 of the rule)")
    diag_only = not setup.action.blocks
    t0 = time.perf_counter()
    step, hit, diverged, runs = 0, None, None, []
    while step < steps:
        if step in interventions:
            obj = "balance" if interventions[step] == "balance" else objective
            r = teleport(k, setup.action, theta, X, Y, obj, teleport_steps, seed, step_size=teleport_step_size)
            state = transport_state(rule, state, r.element, diag_only, notes)
            tele.append({"step": step, "kind": interventions[step], "objective": obj,
                         "loss_before": r.loss_before, "loss_after": r.loss_after,
                         "objective_before": r.objective_before, "objective_after": r.objective_after,
                         "charge_jump": {n: r.charges_after[n] - r.charges_before[n] for n in r.charges_after},
                         "seconds": time.perf_counter() - t0, "ok": r.ok})
            theta = r.theta
        nxt = min([s for s in interventions if s > step] + [steps, step + SEGMENT])
        run = run_optimizer(k, rule, theta, X, Y, nxt - step, record=True, state0=state,
                            seed=seed + step)
        resid = max(resid, float(run.charge_resid.max()) if run.charge_resid.size else 0.0)
        checked &= run.law_checked
        prev, now = (times[-1] if times else 0.0), time.perf_counter() - t0
        n = len(run.losses)
        losses.extend(run.losses.tolist())
        times.extend((prev + (now - prev) * np.arange(1, n + 1) / max(n, 1)).tolist())   # even within a segment
        if keep_runs:
            runs.append(run)
        theta, state = run.theta[-1].copy(), (run.state[-1].copy() if len(rule.state) else None)
        if run.diverged:
            diverged = step + run.completed
            notes.append(f"{rule.name} diverged at step {diverged} (non-finite update); the run stops there")
            step = diverged
            break
        step = nxt
        if progress:
            progress(step, losses[-1])
        if target_loss is not None and hit is None:
            below = np.flatnonzero(np.asarray(losses) <= target_loss)
            if below.size:
                hit = int(below[0])
                break
    return TrainResult(theta, np.array(losses), np.array(times), step, hit, time.perf_counter() - t0,
                       tele, resid, checked, notes, diverged, runs)
