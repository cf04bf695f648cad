"""The benchmark problems: full-batch GD on an MLP with every charge recorded at every step."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..model import Model


@dataclass
class Problem:
    activation: str          # an activation name ("relu", "tanh", ...) or "linear" (none)
    width: int
    samples: int
    steps: int
    input: int = 64
    out: int = 10
    lr: float = 0.01
    seed: int = 0
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.activation}-{self.input}-{self.width}-{self.out}-N{self.samples}"

    def spec(self) -> dict:
        layers = [{"type": "linear", "out": self.width}]
        if self.activation != "linear":
            layers.append({"type": "activation", "fn": self.activation})
        layers.append({"type": "linear", "out": self.out})
        return {"name": f"bench_{self.activation}_{self.width}", "input": self.input, "loss": "mse",
                "layer": layers}

    def model(self) -> Model:
        if "model" not in self._cache:
            self._cache["model"] = Model.from_dict(self.spec())
        return self._cache["model"]

    def data(self):
        """X ~ N(0,1), Y ~ N(0,1), θ₀ from the model's initialiser, all from ``seed``."""
        rng = np.random.default_rng([self.seed, self.width, self.samples])
        X = rng.standard_normal((self.samples, self.input))
        Y = rng.standard_normal((self.samples, self.out))
        theta0 = self.model().init(np.random.default_rng([self.seed, 2]))
        return X, Y, theta0

    def flops_per_step(self) -> float:
        """Multiply-adds ×2 of the dense products in one GD step (forward, both weight gradients,
        and the hidden-layer backprop); element-wise work and the charges are not counted here
        (see :func:`noether.bench.suite.charge_flops`)."""
        N, d, h, o = self.samples, self.input, self.width, self.out
        return 2.0 * N * (2 * d * h + 3 * h * o)


FULL = [Problem(a, w, n, s) for a in ("relu", "linear")
        for w, s in ((16, 400), (64, 200), (256, 40), (1024, 8)) for n in (256, 4096)]
QUICK = [Problem("relu", 16, 256, 400), Problem("linear", 64, 1024, 100), Problem("relu", 256, 1024, 20),
         Problem("linear", 1024, 256, 4)]
