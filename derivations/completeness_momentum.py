"""Heavy-ball momentum: how many laws survive, against gradient flow.

Lift θ̈ = −γθ̇ − ∇L to (t, θ, v) and count 2D + 1 − dim Lie of F₀ = ∂_t + v·∂_θ − γv·∂_v and
G_X = X(θ)·∂_v (Marcotte, Gribonval, Peyré, ICML 2024, "Keep the momentum").  The survivors are
compared with the Noether charges e^{γt}(Aθ + c)·θ̇ of the generators whose A is antisymmetric
(docs/theory.md §6): rotations O(h) of linear hidden layers survive, rescalings (ReLU) do not.
Run: PYTHONPATH=. python derivations/completeness_momentum.py
"""

from noether.completeness import count_laws
from noether.model import Activation, Linear, Model


def mlp(widths, act=None, bias=True):
    layers = []
    for i, w in enumerate(widths[1:]):
        layers.append(Linear(w, bias))
        if act and i < len(widths) - 2:
            layers.append(Activation(act))
    return Model(widths[0], layers)


ok = True
for widths, act, bias in (([3, 2, 3], None, False), ([4, 3, 5], None, False), ([3, 2, 3], None, True),
                          ([2, 3, 3, 2], None, False), ([3, 4, 2], "relu", True), ([2, 3, 3, 2], "relu", True)):
    m = mlp(widths, act, bias)
    gf = count_laws(m, seed=0, with_derived=False)
    hb = count_laws(m, flow="momentum", seed=0)
    print(f"{act or 'linear'} {widths} bias={bias}: gradient flow {gf.laws} laws; momentum {hb.laws} laws "
          f"(state dim {hb.state_dim}, gap {hb.gap:.1e}); Noether charges {hb.derived} -> "
          f"{'complete' if hb.complete else 'NOT complete'}")
    ok &= gf.clear and hb.clear and hb.complete and hb.laws <= gf.laws
    if act == "relu":
        ok &= hb.laws == 0
print("verified: momentum keeps only the antisymmetric (rotation) charges" if ok else "FAILED")
raise SystemExit(0 if ok else 1)
