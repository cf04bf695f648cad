"""Block-level claim expressions (``noether.testing.arrayexpr``) and finite maps (``BlockMap``)."""

import numpy as np
import pytest
import sympy as sp

from noether.errors import SpecError
from noether.model import Activation, Linear, Model
from noether.testing import block_map
from noether.testing.arrayexpr import ArrayExpr, BlockContext


def small():
    return Model(3, [Linear(4), Activation("relu"), Linear(2)])


def test_map_scales_blocks_exactly():
    m = small()
    th = m.init(np.random.default_rng(0))
    new = block_map("W1 -> 2*W1; b1 -> 2*b1; W2 -> W2/2", m)(th)
    p, q = m.unflatten(th), m.unflatten(new)
    # powers of two: exact in float64, so equality is exact
    assert np.array_equal(q["W1"], 2 * p["W1"]) and np.array_equal(q["b1"], 2 * p["b1"])
    assert np.array_equal(q["W2"], p["W2"] / 2) and np.array_equal(q["b2"], p["b2"])


def test_map_slices_index_lists_and_simultaneous_assignment():
    m = small()
    th = m.init(np.random.default_rng(1))
    p = m.unflatten(th)
    q = m.unflatten(block_map("W1[0,:] -> W1[1,:]; W1[1,:] -> W1[0,:]; W2 -> W2[:,[1,0,2,3]]; b1[-1] -> 7", m)(th))
    assert np.array_equal(q["W1"][0], p["W1"][1]) and np.array_equal(q["W1"][1], p["W1"][0])
    assert np.array_equal(q["W2"], p["W2"][:, [1, 0, 2, 3]])
    assert q["b1"][3] == 7.0 and np.array_equal(q["b1"][:3], p["b1"][:3])


def test_map_with_free_scalar_t():
    m = small()
    th = m.init(np.random.default_rng(2))
    bm = block_map("W1[2,:] -> exp(t)*W1[2,:]", m)
    assert bm.uses_t
    q = m.unflatten(bm.with_t(0.5)(th))
    np.testing.assert_allclose(q["W1"][2], np.exp(0.5) * m.unflatten(th)["W1"][2], rtol=1e-15)
    assert np.array_equal(bm.with_t(0.0)(th), th)


def test_sum_and_parameter_symbols_give_exact_sympy():
    ctx = BlockContext({"W1": (2, 2), "b1": (2,)}, scalars=())
    e = ArrayExpr.parse("sum(W1[0,:]**2) + b1[0]**2 - W1_1_1", ctx, "f").scalar()
    W = ctx.by_name
    assert sp.expand(e - (W["W1_0_0"] ** 2 + W["W1_0_1"] ** 2 + W["b1_0"] ** 2 - W["W1_1_1"])) == 0


@pytest.mark.parametrize("text", [
    "__import__('os').system('true')",       # calls outside the allow-list
    "W1.__class__",                          # attribute access
    "W9 -> 2*W9",                            # unknown block
    "W1[0] -> W1[0:a]",                      # non-literal slice
    "W1[5,:] -> 0",                          # out of range
    "W1 -> W2",                              # shapes do not broadcast
    "W1 -> 2*W1; W1[0,0] -> 1",              # assigned twice
    "W1 = 2*W1",                             # no arrow
    "2*W1 -> W1",                            # target not a block
    "lambda: 0 -> 1",
])
def test_bad_maps_are_one_line_spec_errors(text):
    with pytest.raises(SpecError) as e:
        block_map(text, small())
    assert "\n" not in str(e.value) and e.value.field == "--map"


def test_conserved_array_term_must_be_summed():
    ctx = BlockContext({"W1": (2, 2)}, scalars=())
    with pytest.raises(SpecError, match="sum"):
        ArrayExpr.parse("W1**2", ctx, "--conserved").scalar()
