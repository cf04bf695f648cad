"""Counting with the loss and in degenerate shapes (issue 11).

Bias-free linear nets with one input and one output have D − 1 laws: every per-sample field is
a multiple of one field, so Lie(V) is a line (Marcotte, Gribonval, Peyré, NeurIPS 2023, §3).
Softmax cross-entropy is blind to a common logit shift, so a ReLU net with biases gains
hidden-width + 1 laws over its MSE count (the last layer's shift along 1; Kunin et al. 2021).
Each count must equal the charges ``derive`` finds.  Run: PYTHONPATH=. python derivations/completeness_loss.py
"""

from noether.completeness import count_laws
from noether.model import Activation, Linear, Model

ok = True
for widths in ([1, 2, 1], [1, 3, 1], [1, 3, 2], [3, 2, 1], [2, 1, 2]):
    m = Model(widths[0], [Linear(w, bias=False) for w in widths[1:]])
    r = count_laws(m, seed=0)
    expect = m.D - 1 if widths[0] == widths[-1] == 1 else r.derived
    good = r.clear and r.laws == expect == r.derived
    ok &= good
    print(f"linear {widths} no bias: D = {m.D}, laws = {r.laws}, derived = {r.derived}"
          + ("" if good else "  <- NOT reproduced"))
for widths in ([2, 2, 3], [2, 3, 3]):
    counts = {}
    for loss in ("mse", "cross_entropy"):
        m = Model(widths[0], [Linear(widths[1]), Activation("relu"), Linear(widths[2])], loss=loss)
        counts[loss] = count_laws(m, seed=0)
    mse, ce = counts["mse"], counts["cross_entropy"]
    good = (mse.clear and ce.clear and mse.laws == mse.derived == widths[1]
            and ce.laws == ce.derived == 2 * widths[1] + 1)
    ok &= good
    print(f"relu {widths}: mse laws = {mse.laws} (derived {mse.derived}), cross_entropy laws = {ce.laws} "
          f"(derived {ce.derived})" + ("" if good else "  <- NOT reproduced"))
print("verified: counts with the loss and in degenerate shapes equal the derived charges" if ok else "FAILED")
raise SystemExit(0 if ok else 1)
