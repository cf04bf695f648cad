"""Gradient descent: θ_{k+1} = θ_k − η (g_k + λθ_k) (coupled decay) or
θ_{k+1} = (1 − ηλ)θ_k − η g_k (decoupled).  Full batch (``gd``), or minibatch SGD (``sgd``,
Robbins & Monro 1951) with g_k the gradient of a seeded batch: the symmetry identity
X(θ)·∇L_B(θ) = 0 holds for every batch B, so the GD laws carry over."""

from __future__ import annotations

from typing import final

from .base import UpdateRule, eta, vec


class DescentRule(UpdateRule):
    """Abstract: the plain gradient step, whatever batch ``g`` comes from."""

    def update(self):
        return {"theta": self.decay(vec("theta") - eta * self.effective_grad())}


@final
class GD(DescentRule):
    name = "gd"


@final
class SGD(DescentRule):
    name = "sgd"
    minibatch = True
