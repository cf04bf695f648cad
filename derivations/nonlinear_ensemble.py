"""Zhao et al. (ICLR 2023, Thm 4.1 and §4): an ensemble of nonlinear-action copies of one trained net.

One tanh net is trained on scikit-learn's digits (full-batch GD, numpy).  Each copy is
g·θ = (U σ(Vx) σ(gVx)⁺, gV) for a random g = exp(εM) and its own batch of width/2 training
samples (U' the solution nearest U): the copy has the same loss on its batch (to float64 rounding) but not elsewhere.  The
ensemble averages the copies' outputs.  Reproduced (exit 1 otherwise): every copy keeps its batch
loss to rounding and every copy's held-out loss differs from the single net's; the ensemble's
held-out accuracy and loss are printed against the single net's (a measurement, not a claim).
Run:  python derivations/nonlinear_ensemble.py
"""

import sys

import numpy as np
import scipy.linalg as sl
from sklearn.datasets import load_digits

import noether
from noether.actions import nonlinear_teleport

rng = np.random.default_rng(13)
digits = load_digits()
X = digits.data / 16.0
Y = np.eye(10)[digits.target]
perm = rng.permutation(len(X))
tr, te = perm[:1200], perm[1200:]
width = 32
model = noether.Model(64, [noether.Linear(width), noether.Activation("tanh"), noether.Linear(10)], name="digits_tanh")
theta = model.init(rng)
for step in range(1000):                     # full-batch GD on the training split
    loss, grad = model.loss_and_grad(theta, X[tr], Y[tr])
    theta -= 0.1 * grad


def scores(th_list):
    out = np.mean([model.forward(th, X[te]) for th in th_list], axis=0)
    return float(np.mean(out.argmax(1) == digits.target[te])), float(model.loss.value(out, Y[te]))


acc1, loss1 = scores([theta])
print(f"{model.describe()}; train {len(tr)}, held-out {len(te)}; training loss {loss:.4f}")
print(f"single net:            held-out accuracy {acc1:.4f}, loss {loss1:.5f}")
ok = True
for eps in (0.05, 0.2):
    copies = []
    worst_batch = 0.0
    for k in range(10):
        batch = rng.choice(tr, size=width // 2, replace=False)
        g = sl.expm(eps * rng.standard_normal((width, width)))
        r = nonlinear_teleport(model, theta, X[batch], Y[batch], g, X_held=X[te], Y_held=Y[te])
        worst_batch = max(worst_batch, abs(r["batch_loss_change"]) / r["batch_loss_before"])
        ok &= r["heldout_loss_after"] != r["heldout_loss_before"]
        copies.append(r["theta"])
    acc, ls = scores(copies)
    # the copy is exact on its batch up to the lstsq solve: relative loss change ~ cond · ε; 1e-8 is generous
    ok &= worst_batch < 1e-8
    single = [scores([c]) for c in copies]
    print(f"eps={eps}: 10 copies, worst relative batch-loss change {worst_batch:.1e}; copies alone: "
          f"accuracy {np.mean([s[0] for s in single]):.4f}, loss {np.mean([s[1] for s in single]):.5f}; "
          f"ensemble: accuracy {acc:.4f}, loss {ls:.5f}")
print("reproduced" if ok else "NOT reproduced")
sys.exit(0 if ok else 1)
