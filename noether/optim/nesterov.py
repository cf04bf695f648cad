"""Nesterov momentum (Sutskever et al. 2013) in PyTorch's convention:
θ_{k+1} = θ_k − η (d_k + β v_{k+1}), with v_{k+1} as for heavy ball."""

from __future__ import annotations

from ..errors import SpecError
from .base import beta, eta, vec
from .momentum import Momentum


class Nesterov(Momentum):
    name = "nesterov"
    nesterov = True

    def check(self):
        super().check()
        if self.dampening != 0:
            raise SpecError("--dampening", "Nesterov momentum requires zero dampening (PyTorch's convention)")

    def update(self):
        v1 = self.velocity()
        return {"v": v1, "theta": self.decay(vec("theta") - eta * (self.effective_grad() + beta * v1))}
