"""Where local symmetries appear and vanish during training: dead / bypassed ReLU units of a deep
net on scikit-learn's digits, counted over the whole training set every 50 GD steps.

A dead unit frees its incoming row, bias and outgoing column (in + 1 + out local laws); k
bypassed units of a layer carry GL(k) (see the README's "Local and data-dependent symmetries").
The counts come from :func:`noether.region_counts`, which reads the pieces of σ off its sympy
expression.  Reproduced (exit 1 otherwise): the counts add up to the hidden width at every
checkpoint and training lowers the loss.
Run:  python derivations/region_stats_digits.py [--plot FILE.png]
"""

import sys

import numpy as np
from sklearn.datasets import load_digits

import noether

rng = np.random.default_rng(13)
digits = load_digits()
X = digits.data[:600] / 16.0
Y = np.eye(10)[digits.target[:600]]
model = noether.Model(64, [noether.Linear(16), noether.Activation("relu"), noether.Linear(16),
                           noether.Activation("relu"), noether.Linear(16), noether.Activation("relu"),
                           noether.Linear(10)], name="digits_relu_deep")
theta = model.init(rng)
print(model.describe())
rows, ok = [], True
loss0 = None
for step in range(801):
    loss, grad = model.loss_and_grad(theta, X, Y)
    loss0 = loss if loss0 is None else loss0
    if step % 50 == 0:
        c = noether.region_counts(model, theta, X)
        ok &= sum(c.values()) == 48
        rows.append((step, loss, c))
        print(f"step {step:4d}  loss {loss:.4f}  dead {c['dead']:2d}  bypassed {c['bypassed']:2d}  mixed {c['mixed']:2d}")
    theta -= 0.1 * grad
ok &= rows[-1][1] < loss0
if "--plot" in sys.argv:
    import matplotlib   # optional (extra 'plots')
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for k in ("dead", "bypassed", "mixed"):
        ax.plot([r[0] for r in rows], [r[2][k] for r in rows], label=k)
    ax.set_xlabel("GD step"); ax.set_ylabel("units (3 layers x 16)"); ax.legend()
    fig.savefig(sys.argv[sys.argv.index("--plot") + 1], dpi=100)
print("reproduced" if ok else "NOT reproduced")
sys.exit(0 if ok else 1)
