"""``Monitor``: every derived charge and its exact per-step law, on your own PyTorch training loop.

The charges are noether's derivation of the imported model (:func:`noether.torch.from_module`),
C(θ) = ½B(θ, θ) + L(θ) with B(u, v) = uᵀAv; the laws are noether's derived laws
(:func:`noether.derive.laws.derive_law`) for the optimizer's update, with the hyperparameters and
momentum buffer read from the optimizer itself at every step:

* ``torch.optim.SGD``: plain (the GD rule), heavy ball (``momentum``, ``dampening``) and
  ``nesterov``, each with coupled ``weight_decay``.  PyTorch sets the buffer to the undampened
  d_0 = g_0 + λθ_0 at its first step; the rules' ``first`` symbol is 1 exactly there (buffer absent).
* ``Adam`` / ``AdamW``: the rule is not linear in the vectors, so no law closes (kinetic symmetry
  breaking, Tanaka & Kunin 2021): the charges' drift is recorded and the diagnosis reported.

Tolerance of a law at one step: 16·u·S, u the unit roundoff of the parameters' dtype (2⁻⁵³ for
float64, 2⁻²⁴ for float32) and S the scale of the law's terms, |θ_k|ᵀ|A||θ_k| + |θ_{k+1}|ᵀ|A||θ_{k+1}|
+ |c|ᵀ(|θ_k| + |θ_{k+1}|) + Σ|coefficient|·|u|ᵀ|A||v| over the law's atoms: PyTorch's update
rounds each coordinate a few times (d = g + λθ, the buffer, θ − ηv), each at most u relative to
the magnitudes S collects, and the float64 evaluation adds less.  (For charge families S uses the
Cauchy–Schwarz bound of each |u|ᵀ|A||v|, see :mod:`.families`: a larger, still rounding-sized scale.)

Which charges: the explicit ones for small models; the charge families, by Gram products on the
tensors (:mod:`.families`), whenever they have a Gram form and no trajectory is kept.  Past
EXPLICIT_D parameters with a loss other than MSE, the families of the output symmetries (a
symmetry of the outputs is one of every loss); ``report().info['scope']`` says what is left out.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from ..derive import derive
from ..derive.derivation import EXPLICIT_D
from ..derive.laws import B, derive_law
from ..errors import SpecError
from ..optim import GD, Adam, AdamW, Momentum, Nesterov
from ..optim.base import HYPER, HYPERS, first
from ..run.checks import Report
from .families import FamilyCharges
from .importer import from_module, from_state_dict
from types import SimpleNamespace
from ..derive.continuous import prediction_errors

SUPPORTED = ("torch.optim.SGD (momentum, dampening, nesterov, weight_decay; laws checked), "
             "torch.optim.Adam and AdamW (drift recorded: no closed law)")
#: rounding of the law's terms (see the module docstring)
ROUNDINGS = 16


def quadratic_form(expr: sp.Expr, model):
    """(rows, cols, values, lin_idx, lin_values) of C = ½θᵀAθ + cᵀθ read off a charge's expression
    (A stored with both (r, s) and (s, r)); a non-quadratic term is a SpecError."""
    rows, cols, vals, li, lv = [], [], [], [], []
    for term, coef in sp.expand(expr).as_coefficients_dict().items():
        f = float(coef)
        powers = term.as_powers_dict() if term != 1 else {}
        syms = [s for s, e in powers.items() for _ in range(int(e))]
        if any(not isinstance(s, sp.Symbol) for s in syms) or len(syms) > 2 or \
                any(int(e) != e for e in powers.values()):
            raise SpecError("charge", f"{expr} is not quadratic in the parameters: no bilinear law")
        idx = [model.index(str(s)) for s in syms]
        if len(idx) == 2:
            r, s = idx
            if r == s:
                rows, cols, vals = rows + [r], cols + [r], vals + [2 * f]
            else:
                rows, cols, vals = rows + [r, s], cols + [s, r], vals + [f, f]
        elif len(idx) == 1:
            li, lv = li + [idx[0]], lv + [f]
    return rows, cols, vals, li, lv


class Charges:
    """All explicit charges at once: C_i = ½B_i(θ, θ) + L_i(θ) by sparse products on the flat
    float64 θ (``vector`` reads it from the module's tensors in ``keys`` order)."""

    def __init__(self, exprs, model, keys):
        self.model, self.keys = model, keys
        parts = [quadratic_form(e, model) for e in exprs]
        self.n = len(parts)
        cat = lambda k, dt: np.array([x for p in parts for x in p[k]], dtype=dt)  # noqa: E731
        self.ci = np.repeat(np.arange(self.n), [len(p[0]) for p in parts])
        self.r, self.s, self.a = cat(0, np.int64), cat(1, np.int64), cat(2, float)
        self.li = np.repeat(np.arange(self.n), [len(p[3]) for p in parts])
        self.lr, self.c = cat(3, np.int64), cat(4, float)

    def B(self, u, v, absolute=False):
        a = np.abs(self.a) if absolute else self.a
        w = a * (np.abs(u[self.r]) * np.abs(v[self.s]) if absolute else u[self.r] * v[self.s])
        return np.bincount(self.ci, w, self.n)

    def L(self, u, absolute=False):
        w = np.abs(self.c * u[self.lr]) if absolute else self.c * u[self.lr]
        return np.bincount(self.li, w, self.n)

    def value(self, th):
        return 0.5 * self.B(th, th) + self.L(th)

    def vector(self, tensors):
        return from_state_dict(self.model, dict(zip(self.keys, tensors)))

    def zeros(self):
        return np.zeros(self.model.D)


def _rule(optimizer):
    """(noether rule with the structure of ``optimizer``'s update, closed) or a SpecError."""
    groups = optimizer.param_groups
    keys = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "betas", "eps", "amsgrad")
    hp0 = {k: groups[0].get(k) for k in keys}
    if any({k: g.get(k) for k in keys} != hp0 for g in groups[1:]):
        raise SpecError("optimizer", "has parameter groups with different hyperparameters; a charge mixes "
                        "parameters of several groups, so one rule is needed: use one group")
    g = groups[0]
    if g.get("maximize"):
        raise SpecError("optimizer.maximize", "must be False (the laws are derived for descent)")
    t = type(optimizer)
    if t is torch.optim.SGD:
        if g["nesterov"]:
            return Nesterov(lr=1.0, momentum=0.5, weight_decay=1.0)
        if g["momentum"] == 0:
            return GD(lr=1.0, weight_decay=1.0)
        return Momentum(lr=1.0, momentum=0.5, dampening=0.5, weight_decay=1.0)
    if t is torch.optim.AdamW:
        return AdamW(lr=1.0, weight_decay=1.0)
    if t is torch.optim.Adam:
        return AdamW(lr=1.0, weight_decay=1.0) if g.get("decoupled_weight_decay") else Adam(lr=1.0, weight_decay=1.0)
    raise SpecError("optimizer", f"{t.__module__}.{t.__name__} has no rule in noether; supported: {SUPPORTED}")


class DriftReport(Report):
    """A monitor's report when the optimizer closes no law: the drift is data, not a verdict."""

    @property
    def verdict(self) -> str:
        return "no law to check: " + self.info.get("diagnosis", "") + " (drift per charge in info['drift'])"


class Monitor:
    """``Monitor(module, optimizer, example_input)``: attach to ``optimizer``'s step hooks.

    ``every`` = k records charges (and checks laws) at every k-th step; ``check_laws=False``
    only records charges.  ``history`` is a dict of arrays; ``report()`` a :class:`noether.Report`
    (``.table()``, ``.to_json()``) like ``verify``'s.  ``derivation`` reuses a derivation of the
    same imported model.  Call ``close()`` to remove the hooks."""

    def __init__(self, module, optimizer, example_input, loss: str = "cross_entropy", every: int = 1,
                 check_laws: bool = True, derivation=None, trajectory: bool = False):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise SpecError("every", f"must be a positive integer, got {every!r}")
        self.model, _ = from_module(module, example_input, loss)
        self.rule = _rule(optimizer)
        # one tensor per state_dict key (attention's Q, K, V blocks share in_proj), θ via from_state_dict
        self.keys = list(dict.fromkeys(self.model.torch_names[b.name] for b in self.model.blocks))
        self.scope = "every derived charge of the model with its loss"
        if derivation is None and self.model.D > EXPLICIT_D:
            # Past the explicit limit: the charge families of the output symmetries (the MSE twin's
            # derivation).  A symmetry of the outputs is one of every loss, so their laws hold for
            # this loss too; only the loss's own symmetries (cross-entropy's logit shifts) are left out.
            twin, _ = from_module(module, example_input, "mse")
            derivation = derive(twin)
            if loss != "mse":
                self.scope = (f"the charges of the output symmetries (they hold for every loss); the symmetries of "
                              f"the {loss} loss itself are not monitored at D = {self.model.D} > {EXPLICIT_D}")
        self.derivation = derivation if derivation is not None else derive(self.model)
        self.charges = None
        if self.derivation.charge_families and not (trajectory and self.derivation.charges):
            # families by Gram products on the tensors (cheaper than the explicit charges, and the
            # only way past EXPLICIT_D); explicit charges when a family has no Gram form
            try:
                self.charges = FamilyCharges(self.derivation, self.model, self.keys)
            except SpecError:
                if self.derivation.charges is None:
                    raise
        if self.charges is not None:
            self.names, self.families = self.charges.names, self.charges.families
            if trajectory:
                raise SpecError("trajectory", f"continuous predictions need explicit charges (up to {EXPLICIT_D} "
                                f"parameters); this module has {self.model.D}")
        else:
            if not self.derivation.charges:
                raise SpecError("module", "the derivation gave no explicit charges to monitor: "
                                + "; ".join(self.derivation.notes))
            self.names = [c.name for c in self.derivation.charges]
            self.families = [c.family for c in self.derivation.charges]
            self.charges = Charges([c.expr for c in self.derivation.charges], self.model, self.keys)
        named = dict(module.named_parameters())
        self.params = [named[k] for k in self.keys]
        ids = {id(p) for p in self.params}
        for grp in optimizer.param_groups:
            if any(id(p) not in ids for p in grp["params"]) or len(grp["params"]) != len(ids):
                raise SpecError("optimizer", "must optimise exactly the module's parameters (one group)")
        self.optimizer, self.every, self.check_laws = optimizer, every, check_laws
        self._traj = {"theta": [], "grad": []} if trajectory else None
        self.law = derive_law(self.rule, general=True)
        self._law_terms() if self.law.closed else None
        self.step, self._pre = 0, None
        self._rec = {"step": [], "charges": []}
        self._chk = {"step": [], "delta": [], "predicted": [], "violation": [], "tolerance": []}
        self._handles = [optimizer.register_step_pre_hook(self._before),
                         optimizer.register_step_post_hook(self._after)]

    # -- the law as numbers: coefficient functions of the hyperparameters per atom ----------------
    def _law_terms(self):
        rhs = sp.expand(self.law.rhs)
        atoms = sorted(rhs.atoms(sp.Function), key=str)
        syms = list(HYPER.values()) + [first]
        self._atoms = [(a.func, [str(x) for x in a.args]) for a in atoms]
        self._coef = [sp.lambdify(syms, rhs.coeff(a), "math") for a in atoms]
        rest = sp.expand(rhs - sum(rhs.coeff(a) * a for a in atoms))
        if rest != 0:
            raise SpecError("law", f"the derived law has a term {rest} outside its atoms")

    def _flat(self, tensors):
        return self.charges.vector(tensors)

    def _read(self, groups) -> list:
        """The vectors of ``groups`` (lists of tensors in ``keys`` order; None: zeros) for the charges
        and the law: for unit families without a trajectory to keep, only their row dots, formed
        from the live tensors in one fused pass (:meth:`FamilyCharges.live`); else float64 copies."""
        live = getattr(self.charges, "live", None) if self._traj is None else None
        return (live(groups) if live else None) or \
            [self.charges.zeros() if g is None else self._flat(g) for g in groups]

    def _before(self, opt, args, kwargs):
        if self.step % self.every:
            return
        recorded = bool(self._rec["step"]) and self._rec["step"][-1] == self.step
        if recorded and not (self.check_laws and self.law.closed):
            self._pre = None          # charges only, already recorded after the last step: no copy
            return
        checking = self.check_laws and self.law.closed
        if checking and any(p.grad is None for p in self.params):
            raise SpecError("optimizer.step", "a parameter has no gradient; call loss.backward() first")
        bufs = [opt.state.get(p, {}).get("momentum_buffer") for p in self.params]
        fst = float(bufs[0] is None)
        # read now: the step is about to change θ and the momentum buffer
        vecs = self._read([self.params, [p.grad for p in self.params], None if bufs[0] is None else bufs]
                          if checking else [self.params])
        th = vecs[0]
        if not recorded:
            self._record(self.step, th)
        if not checking:
            self._pre = None
            return
        g, v = vecs[1], vecs[2]
        grp = opt.param_groups[0]
        hp = {"lr": float(grp["lr"]), "momentum": float(grp.get("momentum", 0.0)),
              "dampening": float(grp.get("dampening", 0.0)), "weight_decay": float(grp.get("weight_decay", 0.0)),
              "beta2": 0.0, "eps": 1.0}
        if self._traj is not None:
            self._traj["theta"].append(th)
            self._traj["grad"].append(g)
        self._pre = (th, {"theta": th, "g": g, "v": v}, [hp.get(k, HYPERS[k].default) for k in HYPER] + [fst], self.params[0].dtype)

    def _after(self, opt, args, kwargs):
        k = self.step
        self.step += 1
        if k % self.every:
            return
        th1 = self._read([self.params])[0]
        self._record(k + 1, th1)
        if self._pre is None:
            return
        th, vecs, hp, dtype = self._pre
        C = self.charges
        pred, scale = np.zeros(C.n), np.zeros(C.n)
        for (f, args), coef in zip(self._atoms, self._coef):
            a = float(coef(*hp))
            if a == 0.0:
                continue
            u = [vecs[x] for x in args]
            pred += a * (C.B(*u) if f == B else C.L(*u))
            scale += abs(a) * (C.B(*u, absolute=True) if f == B else C.L(*u, absolute=True))
        delta = self._rec["charges"][-1] - C.value(th)   # this step only (not edits between steps)
        scale += C.B(th, th, True) + C.B(th1, th1, True) + C.L(th, True) + C.L(th1, True)
        u_round = float(torch.finfo(dtype).eps) / 2
        for key, val in zip(self._chk, (k, delta, pred, np.abs(delta - pred), ROUNDINGS * u_round * scale)):
            self._chk[key].append(val)

    def _record(self, step, th):
        self._rec["step"].append(step)
        self._rec["charges"].append(self.charges.value(th))

    # -- results -----------------------------------------------------------------------------------
    @property
    def history(self) -> dict:
        """{"step", "charges" (rows per recorded step)} and, when laws were checked, {"law_step",
        "delta", "predicted", "violation", "tolerance"} (rows per checked step)."""
        out = {"names": np.array(self.names), "step": np.array(self._rec["step"]),
               "charges": np.array(self._rec["charges"]).reshape(-1, self.charges.n)}
        if self._chk["step"]:
            out["law_step"] = np.array(self._chk["step"])
            for key in ("delta", "predicted", "violation", "tolerance"):
                out[key] = np.array(self._chk[key])
        return out

    def report(self) -> Report:
        """The same table and JSON as ``verify``: per charge, the worst step (largest violation /
        tolerance); for Adam/AdamW no law, the drift and the diagnosis in ``info``."""
        law = self.law.pretty()          # printed once (sympy printing, per charge, took minutes at 13,500)
        rep = (Report if self.law.closed else DriftReport)(self.model.name, info={"optimizer": type(self.optimizer).__name__,
                                            "rule": self.rule.variant, "steps": self.step, "scope": self.scope,
                                            "law": law})
        h = self.history
        if "law_step" in h:
            ratio = h["violation"] / np.maximum(h["tolerance"], np.finfo(float).tiny)
            worst = ratio.argmax(axis=0)
            for i, name in enumerate(self.names):
                rep.add(name, f"torch-{self.rule.variant}", h["violation"][worst[i], i],
                        h["tolerance"][worst[i], i], self.families[i], law)
        if not self.law.closed:
            drift = np.abs(h["charges"] - h["charges"][:1]).max(axis=0)
            rep.info["drift"] = {n: float(d) for n, d in zip(self.names, drift)}
            rep.info["diagnosis"] = self.law.note
        return rep

    def continuous(self):
        """Kunin et al.'s continuous predictions (:func:`noether.derive.continuous.prediction_errors`:
        the modified flow and its first-order limit) for this run, with their measured errors.
        Needs ``trajectory=True``, ``every=1`` and an SGD optimizer with fixed hyperparameters."""

        if self._traj is None or self.every != 1 or not self._traj["theta"]:
            raise SpecError("trajectory", "continuous predictions need Monitor(..., trajectory=True, every=1) "
                            "and at least one checked step")
        g = self.optimizer.param_groups[0]
        rule = type(self.rule)(lr=g["lr"], momentum=g.get("momentum", 0.0) or None,
                               dampening=g.get("dampening", 0.0), weight_decay=g.get("weight_decay", 0.0))
        C = self.charges

        def put(fn):
            def f(v, out, _):
                out[:] = fn(v)
            return f
        mod = SimpleNamespace(charges_quad=put(lambda v: 0.5 * C.B(v, v)), charges_lin=put(C.L),
                              charges=put(C.value), charges_abs=put(lambda v: 0.5 * C.B(v, v, True) + C.L(v, True)))
        run = SimpleNamespace(theta=np.array(self._traj["theta"]), grad=np.array(self._traj["grad"]),
                              charges=self.history["charges"])
        return prediction_errors(SimpleNamespace(module=mod), rule, run, self.names, max_charges=C.n)

    def close(self):
        for h in self._handles:
            h.remove()
