"""A user-defined layer end to end: declare it in Python, derive, generate kernels, verify.

The layer y_i = a_i (M x)_i (a per-unit gain on a linear map) is new to noether: nothing in its
source knows it.  The exact global search finds its symmetries from the forward function: each
unit's gain a_i trades against row i of M (a_i² − |M_i|² conserved) and against column i of
the next layer (a_i² − |W2[:, i]|²), and the cross-check confirms them numerically.

    PYTHONPATH=. python derivations/user_defined_layer.py
"""

from noether import VerifyOptions, verify
from noether.derive import cross_check, derive, global_exact
from noether.model import Linear, Model, user_layer


def gain_forward(x, p):
    """y_i = a_i Σ_j M_ij x_j: plain sympy arithmetic on the inputs and the declared blocks."""
    return [p["a"][i] * sum(p["M"][i, j] * x[j] for j in range(len(x))) for i in range(3)]


def main():
    layer = user_layer("gain", blocks={"a": (3,), "M": (3, 2)}, out=3, forward=gain_forward)
    model = Model(2, [layer, Linear(2)], name="user_gain")
    print(model.describe())
    d = derive(model)
    print(f"algebra: dim {d.dim}, orbit rank {d.orbit_rank}; independent charges {d.n_independent_charges}")
    for c in d.charges:
        print(f"  {c.name}: {c.expr}")
    chk = cross_check(model, global_exact(model))
    print(f"numeric cross-check: dim {chk['dim']}, singular-value gap {chk['gap'][0]:.1e} | {chk['gap'][1]:.1e}")
    rep = verify(model, VerifyOptions(steps=500), progress=lambda *_: None, deriv=d)
    worst = max(c.max_residual / c.tolerance for c in rep.checks)
    print(f"verify: {sum(c.ok for c in rep.checks)}/{len(rep.checks)} checks pass "
          f"(worst residual / tolerance = {worst:.1e})")
    return 0 if all(c.ok for c in rep.checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
