"""Named activations.  Each is only a sympy expression in ``z``; nothing else knows the names.

The derivation never looks at these names: ``relu`` is derived exactly like the user string
``"Max(z, 0)"``.
"""

from __future__ import annotations

import sympy as sp

z = sp.Symbol("z", real=True)

ACTIVATIONS: dict[str, sp.Expr] = {
    "identity": z,
    "relu": sp.Max(z, 0),
    "leaky_relu": sp.Max(z, z / 100),  # PyTorch's default negative slope 0.01
    "abs": sp.Abs(z),
    "tanh": sp.tanh(z),
    "sigmoid": 1 / (1 + sp.exp(-z)),
    "gelu": z / 2 * (1 + sp.erf(z / sp.sqrt(2))),
    "silu": z / (1 + sp.exp(-z)),
    "softplus": sp.log(1 + sp.exp(z)),
    "elu": sp.Piecewise((z, z > 0), (sp.exp(z) - 1, True)),
    "exp": sp.exp(z),
    "square": z**2,
    "cube": z**3,
}
