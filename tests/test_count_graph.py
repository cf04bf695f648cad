"""Counting every layer type from its expression graph (issue 11): ``noether count`` on
convolutions, pooling, normalisations, attention, residual, GLU, radial and user layers.

Three independent checks: the graph net's outputs and Jacobian against the model's own numpy
forward and central differences; its rank sequences against the matrix-product net on the
models both can run (same points, same random brackets); and each count against the charges
``derive`` finds, which a count can never be below.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from noether.cli import main
from noether.completeness.count import count_laws, lie_rank, loss_directions
from noether.completeness.graph import GraphNet
from noether.completeness.jets import Net
from noether.model import (Activation, AvgPool2d, BatchNorm, Conv2d, Flatten, Linear, MaxPool2d, Model)
from noether.model.user import user_layer


def _spec(**kw):
    return lambda: Model.from_dict(kw)


MODELS = {
    "conv2d_relu": lambda: Model(9, [Conv2d(2, 2), Activation("relu"), Flatten(), Linear(2)]),
    "conv2d_bn": lambda: Model(9, [Conv2d(2, 2), BatchNorm(affine=True, eps=0.0, channels=2),
                                   Activation("relu"), Linear(2)]),
    "attention": _spec(input=2, seq=2, layer=[{"type": "attention", "heads": 1, "d_k": 2, "d_v": 2}]),
    "layernorm": _spec(input=3, layer=[{"type": "linear", "out": 3}, {"type": "layernorm", "affine": True},
                                       {"type": "linear", "out": 2}]),
    "batchnorm": _spec(input=2, layer=[{"type": "linear", "out": 3}, {"type": "batchnorm", "affine": True},
                                       {"type": "linear", "out": 1}]),
    "glu": _spec(input=3, layer=[{"type": "glu", "out": 2, "fn": "sigmoid"}, {"type": "linear", "out": 2}]),
    "conv1d": _spec(input=2, seq=3, layer=[{"type": "conv1d", "channels": 2, "kernel": 2},
                                          {"type": "activation", "fn": "relu"}, {"type": "linear", "out": 1}]),
    "residual": _spec(input=3, layer=[{"type": "residual", "layer": [{"type": "linear", "out": 3},
                                                                    {"type": "activation", "fn": "tanh"}]},
                                      {"type": "linear", "out": 2}]),
    "radial": _spec(input=3, layer=[{"type": "radial", "f": "tanh(r)"}, {"type": "linear", "out": 2}]),
    "user": lambda: Model(2, [user_layer("scaled", blocks={"a": (2,), "M": (2, 2)}, out=2,
                                         forward=lambda x, p: [p["a"][i] * (p["M"][i, 0] * x[0] + p["M"][i, 1] * x[1])
                                                               for i in range(2)]),
                              Activation("tanh"), Linear(1)]),
}


@pytest.mark.parametrize("name", ["conv2d_relu", "attention", "layernorm", "glu", "residual", "user"])
def test_graph_forward_and_jacobian(name):
    m = MODELS[name]()
    g = GraphNet(m)
    rng = np.random.default_rng(0)
    th, X = m.init(rng), rng.standard_normal((5, g.d_in))
    F = m.forward(th, X)
    # the same sums in another order: a few ulps of the largest intermediate, O(10) terms
    assert np.allclose(g.forward(th, X), F, rtol=1e-12, atol=1e-13 * np.abs(F).max())
    J = g.jacobian(th, X)
    h = 1e-6
    fd = np.stack([(g.forward(th + h * e, X) - g.forward(th - h * e, X)).ravel() / (2 * h)
                   for e in np.eye(m.D)], axis=1)
    # central differences: truncation ~h²·f''' ≈ 1e-12 and rounding ~ulp(f)/h ≈ 1e-10 for O(1) outputs
    assert np.abs(J - fd).max() < 1e-8 * max(1.0, np.abs(J).max())


@pytest.mark.parametrize("layers,loss", [([Linear(3, bias=False), Linear(2, bias=False)], "mse"),
                                         ([Linear(3), Activation("relu"), Linear(2)], "cross_entropy"),
                                         ([Linear(3, bias=False), Activation("z**2"), Linear(1)], "mse")])
@pytest.mark.parametrize("flow", ["gradient", "momentum"])
def test_graph_and_matrix_nets_read_the_same_ranks(layers, loss, flow):
    """Two implementations of the fields (matrix products vs the sympy graph) at the same point
    with the same random brackets give the same dim V_k at every level."""
    m = Model(2, layers, loss=loss)
    rng = np.random.default_rng(1)
    th, X, v = m.init(rng), rng.standard_normal((80, 2)), rng.standard_normal(m.D)
    U = loss_directions(m, np.random.default_rng(2))
    a = lie_rank(Net(m), th, X, np.random.default_rng(3), flow, 1.0, v, U=U)
    b = lie_rank(GraphNet(m), th, X, np.random.default_rng(3), flow, 1.0, v, U=U)
    assert a.clear and b.clear
    assert a.ranks == b.ranks


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_layer_type_is_counted_and_complete(name):
    """The count of each layer type equals the charges the derivation finds (none of these
    models has laws beyond its linear symmetries)."""
    m = MODELS[name]()
    assert Net.unsupported(m) is not None or name == "user"
    r = count_laws(m, points=2, seed=0)
    assert r.clear, r.notes
    assert r.derived is not None and r.laws == r.derived and r.complete


def test_momentum_count_on_a_user_layer():
    r = count_laws(MODELS["user"](), flow="momentum", points=2, seed=0)
    assert r.clear and r.laws == r.derived == 0


def test_batch_coupled_models_count_batches():
    r = count_laws(MODELS["batchnorm"](), points=2, seed=0, with_derived=False)
    assert any("a sample is a batch of 3" in n for n in r.notes)


CONV_SPEC = '''input = 9
layer = [{type = "conv2d", channels = 2, kernel = 2}, {type = "activation", fn = "relu"},
         {type = "linear", out = 2}]
'''


def test_cli_count_conv_json_and_degree_refused(tmp_path, capsys):
    p = tmp_path / "conv.toml"
    p.write_text(CONV_SPEC)
    assert main(["count", str(p), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["laws"] == out["derived"] == 2 and out["complete"]
    assert main(["count", str(p), "--degree", "2"]) == 2      # --exact runs: tests/test_count_ball.py
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--degree" in err and "conv2d" in err


def test_pooling_kinks_are_branches():
    """Max-pooling is a kink with four branches: a point where every input takes the same
    branch of some window is reported as pinned, never as generic."""
    m = Model(16, [Conv2d(2, 2, padding=1), MaxPool2d(2, in_channels=2),
                   AvgPool2d(2, in_channels=2, stride=1, padding=1), Linear(2)])
    g = GraphNet(m)
    assert g.piecewise and len(g.kinks) == 8      # 2 channels × 2×2 pooled positions
    rng = np.random.default_rng(0)
    th = m.init(rng)
    X = np.zeros((6, 16))                          # every sample the same: every kink is pinned
    assert len(g.pinned(th, X)) == 8


# -- the derived charges as an upper bound on dim Lie --------------------------------------------
def test_derived_bound_closes_the_count_and_agrees_with_the_open_one():
    """D − rank ∇C(θ) bounds dim Lie from above; a count that reaches it stops, with the same
    number as the count that brackets until the span is stable."""
    m = Model(3, [Linear(2, bias=False), Linear(3, bias=False)])      # V_0 is below Lie(V): brackets needed
    closed = count_laws(m, points=2, seed=0)
    open_ = count_laws(m, points=2, seed=0, with_derived=False)
    assert closed.laws == open_.laws == 3 and closed.complete
    assert all(p.closed_by == "derived bound" for p in closed.points)
    assert all(p.closed_by == "stable" for p in open_.points)
    assert len(closed.points[0].ranks) < len(open_.points[0].ranks)


def test_a_span_past_the_derived_bound_is_a_contradiction():
    """A bound below what the fields span means a 'charge' that is not conserved: a bug, loudly."""
    from noether.errors import InternalContradiction
    m = Model(2, [Linear(3), Activation("relu"), Linear(2)])
    rng = np.random.default_rng(0)
    th, X = m.init(rng), rng.standard_normal((80, 2))
    with pytest.raises(InternalContradiction, match="derived charges leave room for only 5"):
        lie_rank(Net(m), th, X, rng, bound=5)


def test_momentum_noether_charges_of_a_global_algebra():
    """The exact global search gives an algebra without interfaces (attention here); its
    antisymmetric combinations were searched per interface only, so the derived heavy-ball
    Noether charges read 0 while the count found 6 laws.  The QK and VO rotations and the key-bias
    translation are found, and the count stays at or above them."""
    m = MODELS["attention"]()
    r = count_laws(m, flow="momentum", points=2, seed=0)
    assert r.clear and r.derived is not None and 0 < r.derived <= r.laws


@pytest.mark.parametrize("name", ["attention", "conv1d", "glu"])
def test_derived_orbit_fills_the_loss_preserving_directions(name, monkeypatch):
    """At each counted point the derived generators span every direction that keeps each sample's
    loss (the null space of V_0): the structured search missed no symmetry direction there.  With
    one generator dropped, the count says a direction is not spanned (the check can fail)."""
    m = MODELS[name]()
    r = count_laws(m, points=2, seed=0)
    assert any(n.startswith("orbit: the derived generators span all") for n in r.notes), r.notes
    import noether.completeness.count as C
    real = C._derivation

    def fewer(model):
        d, why = real(model)
        d.algebra.generators = d.algebra.generators[1:]
        return d, why
    monkeypatch.setattr(C, "_derivation", fewer)
    r = count_laws(m, points=2, seed=0)
    assert any("not spanned by the derived generators" in n for n in r.notes), r.notes


def test_orbit_smaller_than_the_loss_preserving_directions_is_a_note_not_a_verdict():
    """A 3-unit layer norm: 3 directions keep every sample's loss to first order beyond the
    derived orbit, yet the count equals the derived charges (the brackets remove them)."""
    r = count_laws(MODELS["layernorm"](), points=2, seed=0)
    assert r.complete and any(n.startswith("3 direction(s) keep every sample's loss") for n in r.notes)
