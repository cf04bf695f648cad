import pytest
import sympy as sp

from noether.errors import SpecError
from noether.expr import parse_expr


def test_parses_arithmetic_and_exact_floats():
    e = parse_expr("Max(z, 0.2*z) + z**3 - exp(z)/2", ["z"], "fn")
    z = sp.Symbol("z", real=True)
    assert sp.simplify(e - (sp.Max(z, z / 5) + z**3 - sp.exp(z) / 2)) == 0


def test_piecewise_with_conditions():
    e = parse_expr("Piecewise((z, z > 0), (0, True))", ["z"], "fn")
    assert e.subs(sp.Symbol("z", real=True), 3) == 3


@pytest.mark.parametrize("text", [
    "__import__('os').system('echo hi')",
    "z.__class__",
    "open('x')",
    "lambda: 1",
    "[z for z in (1,)]",
    "z ^ 2",
    "y + 1",
    "exp(z, base=2)",
    "9**9**9",
    "",
    "z +",
])
def test_rejects_code_and_unknowns(text):
    with pytest.raises(SpecError) as e:
        parse_expr(text, ["z"], "layer[1].fn")
    assert e.value.field == "layer[1].fn"
    assert "\n" not in str(e.value)
