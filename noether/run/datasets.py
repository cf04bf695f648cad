"""Named real data sets, generated or loaded offline, with one-hot targets:

* ``digits``: scikit-learn's 8×8 handwritten digits (shipped inside the package; extra ``data``),
  1797 samples of 64 pixels, standardised per pixel;
* ``mnist1d``: Greydanus (2020), "Scaling down deep learning": the 1-D digits that the
  ``mnist1d`` package generates from its templates (extra ``mnist1d``; no download), with the
  package's default arguments and seed, its 4000 training samples of 40 features, standardised
  by the generator.  The generator seeds numpy's global random state; it is restored afterwards.
"""

from __future__ import annotations

import random

import numpy as np

from ..errors import SpecError


def _digits():
    try:
        from sklearn.datasets import load_digits   # optional extra, imported only here
    except ImportError:
        raise SpecError("--dataset", "digits needs scikit-learn: pip install 'noether-symmetry[data]'") from None
    X, y = load_digits(return_X_y=True)
    X = X.astype(float)
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0), y


def _mnist1d():
    try:
        from mnist1d.data import get_dataset_args, make_dataset   # optional extra, imported only here
    except ImportError:
        raise SpecError("--dataset", "mnist1d needs its generator: pip install 'noether-symmetry[mnist1d]'") from None
    state, pystate = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(get_dataset_args())        # templates + seeded transforms: no network
    finally:
        np.random.set_state(state)
        random.setstate(pystate)
    return np.asarray(d["x"], dtype=float), np.asarray(d["y"])


#: name -> (loader, inputs, classes)
DATASETS = {"digits": (_digits, 64, 10), "mnist1d": (_mnist1d, 40, 10)}


def load_dataset(model, name: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    if name not in DATASETS:
        raise SpecError("--dataset", f"accepted: {', '.join(DATASETS)}; got {name!r}")
    loader, inputs, classes = DATASETS[name]
    if model.input != inputs or model.output != classes:
        raise SpecError("--dataset", f"{name} has {inputs} inputs and {classes} outputs; the spec has "
                        f"input {model.input} and output {model.output}")
    X, y = loader()
    Y = np.eye(classes)[y]
    if n is not None:
        X, Y = X[:n], Y[:n]
    return np.ascontiguousarray(X), np.ascontiguousarray(Y)
