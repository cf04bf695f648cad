"""Heavy-ball momentum (Polyak 1964) in PyTorch's ``torch.optim.SGD`` convention:

    d_k = g_k + λθ_k,   v_{k+1} = β v_k + (1 − τ) d_k  (v_1 = d_0 at the first step),
    θ_{k+1} = θ_k − η v_{k+1}.
"""

from __future__ import annotations

from typing import final

from .base import UpdateRule, beta, eta, first, tau, vec
from .hyper import DAMPENING, DECOUPLED, LR, MOMENTUM, WEIGHT_DECAY


class VelocityRule(UpdateRule):
    """Abstract: the rules that carry PyTorch's momentum buffer ``v`` (heavy ball, Nesterov)."""

    state = ("v",)
    defaults = {"momentum": 0.9}

    def velocity(self):
        return beta * vec("v") + (1 - tau * (1 - first)) * self.effective_grad()


@final
class Momentum(VelocityRule):
    name = "momentum"
    hyper = (LR, MOMENTUM, DAMPENING, WEIGHT_DECAY, DECOUPLED)

    def update(self):
        v1 = self.velocity()
        return {"v": v1, "theta": self.decay(vec("theta") - eta * v1)}
