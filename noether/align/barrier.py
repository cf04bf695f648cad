"""Linear mode connectivity: the loss along θ(α) = (1−α)θ_A + αθ_B and its barrier
max_α [L(θ(α)) − ((1−α)L(θ_A) + αL(θ_B))] (Frankle et al. 2020; Entezari et al. 2021), read at
evenly spaced α including both ends.  Not the worst loss on the path: the excess over the chord."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from ..io import atomic_write
import os


@dataclass
class Path:
    alphas: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray | None        # cross-entropy models only

    @property
    def excess(self) -> np.ndarray:
        a = self.alphas
        return self.loss - ((1 - a) * self.loss[0] + a * self.loss[-1])

    @property
    def barrier(self) -> float:
        return float(self.excess.max())

    def to_json(self) -> dict:
        out = {"alphas": self.alphas.tolist(), "loss": self.loss.tolist(), "barrier": self.barrier,
               "barrier_alpha": float(self.alphas[int(np.argmax(self.excess))])}
        if self.accuracy is not None:
            out["accuracy"] = self.accuracy.tolist()
        return out


def loss_and_accuracy(model, theta, X, Y) -> tuple[float, float | None]:
    F = model.forward(theta, X)
    acc = float(np.mean(F.argmax(axis=1) == Y.argmax(axis=1))) if model.loss_name == "cross_entropy" else None
    return float(model.loss.value(F, Y)), acc


def interpolate(model, theta_a, theta_b, X, Y, points: int = 25) -> Path:
    """The loss (and accuracy) at ``points`` evenly spaced α in [0, 1], both ends included."""
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise SpecError("--points", f"must be an integer >= 2, got {points!r}")
    alphas = np.linspace(0.0, 1.0, points)
    vals = [loss_and_accuracy(model, (1 - a) * theta_a + a * theta_b, X, Y) for a in alphas]
    acc = np.array([v[1] for v in vals]) if vals[0][1] is not None else None
    return Path(alphas, np.array([v[0] for v in vals]), acc)


def plot_path(paths: dict[str, Path], path: str) -> None:
    """Loss (and accuracy) against α, one line per labelled path, written atomically."""

    import matplotlib               # optional extra 'plots': imported only to draw
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # extra "plots"
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        raise SpecError("--plot", f"folder {directory!r} does not exist")
    has_acc = any(p.accuracy is not None for p in paths.values())
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(9 if has_acc else 5, 3.5), squeeze=False)
    for label, p in paths.items():
        axes[0, 0].plot(p.alphas, p.loss, "o-", ms=3, label=f"{label} (barrier {p.barrier:.3g})")
        if has_acc and p.accuracy is not None:
            axes[0, 1].plot(p.alphas, p.accuracy, "o-", ms=3, label=label)
    axes[0, 0].set_xlabel("alpha")
    axes[0, 0].set_ylabel("loss")
    axes[0, 0].legend()
    if has_acc:
        axes[0, 1].set_xlabel("alpha")
        axes[0, 1].set_ylabel("accuracy")
    fig.tight_layout()
    try:
        atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=120), mode="wb", field="--plot")
    finally:
        plt.close(fig)
