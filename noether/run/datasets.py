"""Named real data sets, offline: ``digits`` (scikit-learn's 8×8 handwritten digits, shipped inside
the package; extra ``data``), standardised per pixel, one-hot targets."""

from __future__ import annotations

import numpy as np

from ..errors import SpecError

DATASETS = ("digits",)


def load_dataset(model, name: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    if name not in DATASETS:
        raise SpecError("--dataset", f"accepted: {', '.join(DATASETS)}; got {name!r} "
                        "(mnist1d is not offered: its package downloads or needs its generator)")
    try:
        from sklearn.datasets import load_digits   # optional extra, imported only here
    except ImportError:
        raise SpecError("--dataset", "digits needs scikit-learn: pip install 'noether-symmetry[data]'") from None
    X, y = load_digits(return_X_y=True)
    X = X.astype(float)
    sd = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    Y = np.eye(10)[y]
    if model.input != 64 or model.output != 10:
        raise SpecError("--dataset", f"digits has 64 inputs and 10 outputs; the spec has "
                        f"input {model.input} and output {model.output}")
    if n is not None:
        X, Y = X[:n], Y[:n]
    return np.ascontiguousarray(X), np.ascontiguousarray(Y)
