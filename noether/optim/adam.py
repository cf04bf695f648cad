"""Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), PyTorch's convention.

    m_{k+1} = β m_k + (1 − β) d_k,  s_{k+1} = β₂ s_k + (1 − β₂) d_k²,
    θ_{k+1} = θ_k − η m̂/(√ŝ + ε),  m̂ = m_{k+1}/(1 − β^{k+1}),  ŝ = s_{k+1}/(1 − β₂^{k+1}).

The per-coordinate rescaling is not linear in the vectors, so no exact law closes: kinetic
symmetry breaking (Tanaka & Kunin 2021).  The law derivation detects this from the rule.
"""

from __future__ import annotations

import sympy as sp

from .base import UpdateRule, beta, beta2, eps, eta, step, vec


class Adam(UpdateRule):
    name = "adam"
    state = ("m", "s")
    default_momentum = 0.9

    def update(self):
        d = self.effective_grad()
        m1 = beta * vec("m") + (1 - beta) * d
        s1 = beta2 * vec("s") + (1 - beta2) * d**2
        mhat = m1 / (1 - beta**(step + 1))
        shat = s1 / (1 - beta2**(step + 1))
        return {"m": m1, "s": s1, "theta": self.decay(vec("theta") - eta * mhat / (sp.sqrt(shat) + eps))}


class AdamW(Adam):
    name = "adamw"
    force_decoupled = True

    @property
    def variant(self):
        return "adamw"
