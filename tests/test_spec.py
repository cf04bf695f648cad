import pytest

from noether.errors import SpecError
from noether.model import Model

TEMPLATE = """
input = 3
loss = "mse"
[[layer]]
type = "linear"
out = 4
[[layer]]
type = "activation"
fn = "{fn}"
[[layer]]
type = "linear"
out = 2
bias = false
"""
GOOD = TEMPLATE.replace("{fn}", "relu")


def test_good_spec_and_naming_convention():
    m = Model.from_toml(GOOD)
    assert m.D == 3 * 4 + 4 + 4 * 2
    assert m.parameters[:4] == ["W1_0_0", "W1_0_1", "W1_0_2", "W1_1_0"]
    assert "b1_3" in m.parameters and "W2_1_3" in m.parameters and "b2_0" not in m.parameters


@pytest.mark.parametrize("text,field", [
    (TEMPLATE.format(fn="swish2"), "layer[1].fn"),
    (TEMPLATE.format(fn="__import__('os')"), "layer[1].fn"),
    (TEMPLATE.format(fn="exp(w)"), "layer[1].fn"),
    (GOOD.replace("out = 4", "out = 0"), "layer[0].out"),
    (GOOD.replace("out = 4", "out = -2"), "layer[0].out"),
    (GOOD.replace("out = 4", "out = 2.5"), "layer[0].out"),
    (GOOD.replace("out = 4", ""), "layer[0].out"),
    (GOOD.replace("input = 3", "input = 0"), "spec.input"),
    (GOOD.replace('loss = "mse"', 'loss = "hinge"'), "loss"),
    (GOOD.replace('loss = "mse"', 'loss = "mse"\ncolour = 1'), "spec.colour"),
    (GOOD.replace('out = 4', 'out = 4\nwidth = 3'), "layer[0].width"),
    (GOOD.replace('type = "linear"\nout = 4', 'type = "dense"\nout = 4'), "layer[0].type"),
    (GOOD.replace("bias = false", 'bias = "no"'), "layer[2].bias"),
    ("input = 3\n[[layer]\n", "spec"),
])
def test_bad_specs_name_the_field(text, field):
    with pytest.raises(SpecError) as e:
        Model.from_toml(text)
    assert e.value.field == field
    assert "\n" not in str(e.value)


def test_activation_must_be_real_on_the_line():
    from noether.derive import derive
    m = Model.from_toml(TEMPLATE.format(fn="log(z)"))
    with pytest.raises(SpecError) as e:
        derive(m)
    assert "real" in str(e.value)


def test_the_bare_variable_z_is_an_expression_in_z():
    # "any expression in z" includes z itself: the identity, same algebra as the catalogue name
    from noether.model.activation import Activation
    from noether.model.catalogue import z
    assert Activation("z").expr == z
    assert Activation("z").expr == Activation("identity").expr
