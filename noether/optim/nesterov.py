"""Nesterov momentum (Sutskever et al. 2013) in PyTorch's convention:
θ_{k+1} = θ_k − η (d_k + β v_{k+1}), with v_{k+1} as for heavy ball.  PyTorch requires zero
dampening for Nesterov, so the rule has no dampening hyperparameter."""

from __future__ import annotations

from typing import final

from .base import beta, eta, vec
from .hyper import DECOUPLED, LR, MOMENTUM, WEIGHT_DECAY
from .momentum import VelocityRule


@final
class Nesterov(VelocityRule):
    name = "nesterov"
    hyper = (LR, MOMENTUM, WEIGHT_DECAY, DECOUPLED)
    nesterov = True

    def update(self):
        v1 = self.velocity()
        return {"v": v1, "theta": self.decay(vec("theta") - eta * (self.effective_grad() + beta * v1))}
