"""Parameter files: ``.npz`` with ``theta`` (D,) or a trajectory's (steps+1, D), and ``parameters``
(the symbol names, checked against the spec when present)."""

from __future__ import annotations

import numpy as np

from ..errors import SpecError
from ..io import save_npz_atomic


def load_parameters(model, path: str, field: str) -> np.ndarray:
    """θ of ``model`` from ``path`` (the last row of a trajectory); SpecError naming ``field``."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if "theta" not in f:
                raise SpecError(field, f"{path} must hold an array theta (D,) or (steps+1, D)")
            theta = np.asarray(f["theta"], dtype=float)
            names = [str(n) for n in f["parameters"]] if "parameters" in f else None
            done = int(f["completed_steps"]) if "completed_steps" in f else None
    except SpecError:
        raise
    except (OSError, ValueError) as exc:
        raise SpecError(field, f"cannot read {path!r} as .npz ({exc})") from None
    if theta.ndim == 2:
        theta = theta[done if done is not None else -1]
    if theta.ndim != 1 or theta.size != model.D:
        raise SpecError(field, f"{path}: theta has {theta.size if theta.ndim == 1 else theta.shape} entries, "
                        f"the spec's model has D = {model.D} parameters")
    if names is not None and names != model.parameters:
        bad = next((a, b) for a, b in zip(names, model.parameters) if a != b) if len(names) == model.D \
            else (len(names), model.D)
        raise SpecError(field, f"{path}: parameter names do not match the spec (first difference {bad[0]!r} "
                        f"vs {bad[1]!r})")
    if not np.all(np.isfinite(theta)):
        raise SpecError(field, f"{path}: theta must be finite")
    return theta


def save_parameters(model, path: str, theta: np.ndarray, field: str = "--out") -> None:
    """Write ``theta`` and ``parameters`` atomically (never a half-written file)."""
    save_npz_atomic(path, field=field, theta=np.asarray(theta, dtype=float),
                    parameters=np.array(model.parameters))
