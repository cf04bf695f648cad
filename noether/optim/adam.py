"""Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), PyTorch's convention.

    m_{k+1} = β m_k + (1 − β) d_k,  s_{k+1} = β₂ s_k + (1 − β₂) d_k²,
    θ_{k+1} = θ_k − η m̂/(√ŝ + ε),  m̂ = m_{k+1}/(1 − β^{k+1}),  ŝ = s_{k+1}/(1 − β₂^{k+1}).

The per-coordinate rescaling is not linear in the vectors, so no exact law closes: kinetic
symmetry breaking (Tanaka & Kunin 2021).  The law derivation detects this from the rule.
"""

from __future__ import annotations

from typing import final

import sympy as sp

from .base import UpdateRule, beta, eta, step, vec
from .hyper import DECOUPLED, LR, MOMENTUM, WEIGHT_DECAY, Hyper, declare

BETA2 = declare(Hyper("beta2", sp.Symbol("beta2", nonnegative=True), 0.999, "Adam's second-moment decay β₂",
                      low=0.0, high=1.0, high_open=True))
EPS = declare(Hyper("eps", sp.Symbol("epsilon", positive=True), 1e-8, "Adam's ε", low=0.0, low_open=True))
beta2, eps = BETA2.symbol, EPS.symbol


class AdamRule(UpdateRule):
    """Abstract: the Adam update; the final classes choose how weight decay enters."""

    hyper = (LR, MOMENTUM, BETA2, EPS, WEIGHT_DECAY, DECOUPLED)
    defaults = {"momentum": 0.9}
    state = ("m", "s")

    def update(self):
        d = self.effective_grad()
        m1 = beta * vec("m") + (1 - beta) * d
        s1 = beta2 * vec("s") + (1 - beta2) * d**2
        mhat = m1 / (1 - beta**(step + 1))
        shat = s1 / (1 - beta2**(step + 1))
        return {"m": m1, "s": s1, "theta": self.decay(vec("theta") - eta * mhat / (sp.sqrt(shat) + eps))}


@final
class Adam(AdamRule):
    name = "adam"


@final
class AdamW(AdamRule):
    name = "adamw"
    force_decoupled = True

    @property
    def variant(self):
        return "adamw"
