"""Hypothesis strategies for symmetry claims, composable like ``hypothesis.extra.numpy``.

    models() | model_specs()        networks within bounds (depth, widths, activations, bias)
    parameters(model)               a flat θ for a Model, or a params dict for a user template
    batches(model)                  (X, Y) data
    algebra_elements(model)         X = Σ a_k X_k over the *derived* generators (noether.derive)
    group_elements(model)           exp(tX), a Transform
    permutations(model), sign_flips(model), discrete_symmetries(model), symmetries(model)

Parameters and data are drawn from bounded floats (no nan/inf/subnormals), which shrink towards
0 and small integers, so a failing claim shrinks to a readable counterexample.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..errors import SpecError
from .transforms import AlgebraElement, Flip, GroupElement, Permutation
from ..model import Model
from .assertions import derivation_of

#: Catalogue names plus one user expression: the derivation treats them alike.
DEFAULT_ACTIVATIONS = ("relu", "leaky_relu", "tanh", "identity", "z**3")


def floats(bound: float = 2.0):
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)


def _as_strategy(x, name):
    if isinstance(x, st.SearchStrategy):
        return x
    if isinstance(x, tuple) and len(x) == 2 and all(isinstance(v, int) for v in x):
        return st.integers(*x)
    if isinstance(x, bool):
        return st.just(x)
    if isinstance(x, (list, tuple)):
        return st.sampled_from(list(x))
    if isinstance(x, (int, str)):
        return st.just(x)
    raise SpecError(name, "give a strategy, a (low, high) int pair, a list of choices or a value")


@st.composite
def model_specs(draw, *, inputs=(1, 3), outputs=(1, 2), depth=(1, 2), widths=(1, 4),
                activations=DEFAULT_ACTIVATIONS, bias=st.booleans(), extra_layers=(), loss="mse"):
    """A TOML-shaped spec dict: ``depth`` hidden layers (linear + activation), then a linear output.

    Each argument is a strategy, a ``(low, high)`` pair of ints, a list of choices, or a value;
    ``activations`` may contain user expressions in ``z`` (e.g. ``"z**3"``, ``"Max(z, z/5)"``).
    ``extra_layers``: catalogue layer tables (e.g. ``{"type": "layernorm"}``, ``{"type": "radial",
    "f": "1/(1+r)"}``), one of which may follow each hidden activation."""
    n_in = draw(_as_strategy(inputs, "inputs"))
    n_out = draw(_as_strategy(outputs, "outputs"))
    n_hidden = draw(_as_strategy(depth, "depth"))
    layers = []
    for _ in range(n_hidden):
        layers.append({"type": "linear", "out": draw(_as_strategy(widths, "widths")),
                       "bias": draw(_as_strategy(bias, "bias"))})
        layers.append({"type": "activation", "fn": draw(_as_strategy(activations, "activations"))})
        if extra_layers:
            extra = draw(st.none() | st.sampled_from(list(extra_layers)))
            if extra is not None:
                layers.append(dict(extra))
    layers.append({"type": "linear", "out": n_out, "bias": draw(_as_strategy(bias, "bias"))})
    return {"input": n_in, "loss": draw(_as_strategy(loss, "loss")), "layer": layers}


def models(**bounds):
    """noether ``Model`` objects; keyword bounds as :func:`model_specs`."""
    return model_specs(**bounds).map(Model.from_dict)


def _shapes(template) -> dict[str, tuple[int, ...]] | None:
    if isinstance(template, Model):
        return None
    if isinstance(template, dict):
        return {k: tuple(np.shape(v)) if not isinstance(v, tuple) else v for k, v in template.items()}
    raise SpecError("template", "must be a Model or a dict of name -> shape (or example array)")


def parameters(template, *, bound: float = 2.0, elements=None):
    """θ for a ``Model`` (flat float64 vector), or a params dict for a user template
    ``{"W1": (4, 3), "b1": (4,), ...}`` (shapes or example arrays)."""
    el = elements if elements is not None else floats(bound)
    shapes = _shapes(template)
    if shapes is None:
        return hnp.arrays(np.float64, template.D, elements=el, fill=st.nothing())
    return st.fixed_dictionaries({k: hnp.arrays(np.float64, s, elements=el, fill=st.nothing())
                                  for k, s in shapes.items()}).map(lambda d: {k: d[k] for k in shapes})


def batches(model=None, *, inputs: int | None = None, outputs: int | None = None, samples=(1, 4),
            bound: float = 2.0, elements=None):
    """(X, Y) with X of shape (N, input), Y of shape (N, output); sizes from a Model or given."""
    n_in = model.input if model is not None else inputs
    n_out = model.output if model is not None else outputs
    if n_in is None or n_out is None:
        raise SpecError("batches", "give a Model or inputs= and outputs=")
    el = elements if elements is not None else floats(bound)
    return _as_strategy(samples, "samples").flatmap(
        lambda n: st.tuples(hnp.arrays(np.float64, (n, n_in), elements=el, fill=st.nothing()),
                            hnp.arrays(np.float64, (n, n_out), elements=el, fill=st.nothing())))


def _generators(model):
    d = derivation_of(model)
    if d.algebra.generators is None:
        raise SpecError("model", "the model is too large for explicit generators")
    return d.algebra.generators


def algebra_elements(model, *, coefficients=None, generators=None):
    """X = Σ a_k X_k, a_k drawn from ``coefficients`` (default floats in [-1, 1]), over the
    derived generators (``noether.derive.derive(model).algebra.generators``) or the given ones.
    An empty algebra gives the zero element."""
    gens = generators if generators is not None else _generators(model)
    co = coefficients if coefficients is not None else floats(1.0)
    if not gens:
        return st.just(AlgebraElement(model.D, {}, {}, "0"))
    return hnp.arrays(np.float64, len(gens), elements=co).map(
        lambda a: AlgebraElement.combine(model.D, a, gens))


def group_elements(model, *, t=None, coefficients=None, generators=None):
    """exp(tX) for X from :func:`algebra_elements` and t from ``t`` (default floats in [-1, 1])."""
    ts = t if t is not None else floats(1.0)
    return st.tuples(algebra_elements(model, coefficients=coefficients, generators=generators), ts).map(
        lambda p: GroupElement(p[0], p[1]))


def _interfaces(model):
    return [itf for itf in derivation_of(model).algebra.interfaces if itf.right is not None]


def permutations(model):
    """A permutation of the hidden units of one interface (its rows of W, b, columns of next W)."""
    itfs = [i for i in _interfaces(model) if i.h >= 2]
    if not itfs:
        return st.nothing()
    return st.sampled_from(itfs).flatmap(
        lambda itf: st.permutations(list(range(itf.h))).map(lambda p: Permutation(model, itf, p)))


def sign_flips(model):
    """A derived flip σ(−u) = aσ(u) + b applied to a nonempty set of units of one interface."""
    opts = [(itf, a, b) for itf in _interfaces(model) for a, b in itf.sol.flips
            if not (b != 0 and not itf.right.bias)]
    if not opts:
        return st.nothing()
    return st.sampled_from(opts).flatmap(
        lambda o: st.sets(st.integers(0, o[0].h - 1), min_size=1).map(
            lambda units: Flip(model, o[0], sorted(units), o[1], o[2])))


def discrete_symmetries(model):
    """A permutation or a sign flip (whichever the derivation finds for this model)."""
    return st.one_of(permutations(model), sign_flips(model))


def symmetries(model):
    """Any derived symmetry: a group element exp(tX) or a discrete one."""
    return st.one_of(group_elements(model), discrete_symmetries(model))
