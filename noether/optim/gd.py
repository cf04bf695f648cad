"""Full-batch gradient descent: θ_{k+1} = θ_k − η g_k."""

from __future__ import annotations

from .base import UpdateRule, eta


class GD(UpdateRule):
    name = "gd"

    def update(self):
        return {"theta": {"theta": 1, "g": -eta}}
