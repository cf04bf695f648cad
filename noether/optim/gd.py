"""Full-batch gradient descent: θ_{k+1} = θ_k − η (g_k + λθ_k) (coupled decay) or
θ_{k+1} = (1 − ηλ)θ_k − η g_k (decoupled)."""

from __future__ import annotations

from .base import UpdateRule, eta, vec


class GD(UpdateRule):
    name = "gd"

    def update(self):
        return {"theta": self.decay(vec("theta") - eta * self.effective_grad())}
