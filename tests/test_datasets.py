"""Named data sets: offline, deterministic, one-hot, shape-checked against the spec, and no
change to numpy's global random state (mnist1d's generator seeds it)."""

import numpy as np
import pytest

from noether.errors import SpecError
from noether.model import Activation, Linear, Model
from noether.run.datasets import load_dataset


def _mlp(inputs, outputs=10):
    return Model(inputs, [Linear(4), Activation("relu"), Linear(outputs)], loss="cross_entropy")


@pytest.mark.parametrize("name,inputs,n", [("digits", 64, 1797), ("mnist1d", 40, 4000)])
def test_named_data_sets(name, inputs, n):
    pytest.importorskip({"digits": "sklearn", "mnist1d": "mnist1d"}[name], reason=f"{name}: optional extra")
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    X, Y = load_dataset(_mlp(inputs), name)
    assert np.array_equal(np.random.get_state()[1], before)
    assert X.shape == (n, inputs) and Y.shape == (n, 10) and np.all(np.isfinite(X))
    assert np.array_equal(Y.sum(axis=1), np.ones(n)) and set(np.unique(Y)) == {0.0, 1.0}
    assert np.all(Y.sum(axis=0) > n / 20)                       # every class present
    # standardised: overall (mnist1d) or per pixel (digits) mean 0 and standard deviation <= 1
    assert abs(X.mean()) < 1e-2 and 0.5 < X.std() <= 1 + 1e-12
    X2, Y2 = load_dataset(_mlp(inputs), name, n=50)
    assert np.array_equal(X2, X[:50]) and np.array_equal(Y2, Y[:50])   # the same draw every time


def test_bad_names_and_shapes_are_refused():
    with pytest.raises(SpecError, match=r"^--dataset: accepted: digits, mnist1d; got 'mnist'"):
        load_dataset(_mlp(40), "mnist")
    with pytest.raises(SpecError, match="mnist1d has 40 inputs and 10 outputs; the spec has input 64"):
        load_dataset(_mlp(64), "mnist1d")
