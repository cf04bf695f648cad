"""Kunin et al. (ICLR 2021, "Neural Mechanics") on a real convolutional net and real data, trained
in PyTorch, with noether's exact per-step laws checked at every step.

A VGG-style CNN (two conv -> BatchNorm -> ReLU -> max-pool blocks, a linear head, cross-entropy)
on scikit-learn's 8x8 digits, float64, torch.optim.SGD with momentum 0.9 and weight decay,
minibatches of 64.  Kept to a few minutes on 2 cores: 2 channels per block (3x3 then 1x1
convolutions, the second block pooled to 1x1), convs without bias
(a bias before BatchNorm is removed by the mean anyway), BatchNorm eps = 0 (eps > 0 breaks the
scale symmetry; noether reports that), and the digits 0, 1, 2 only (537 images, 3 classes), so the
model has 39 parameters and the exact global search derives its algebra.

The charges come from noether's derivation of the imported module; the Monitor checks noether's
derived heavy-ball law (PyTorch's convention, first step included) at every step, and Kunin's
continuous predictions (the modified flow m q'' + b q' + kappa q = source, and its first-order
limit) are compared with the run.  Reproduced when every law holds to 1e-10 at every step, the
scale (conv weights into BatchNorm), rescale (BatchNorm gain/bias against the next conv) and
translation (softmax head) charges are all among the derived ones, and every continuous
prediction's error is measured.  PyTorch refuses eps = 0 in training, so the blocks use
noether.torch.BatchNorm2d (torch.batch_norm directly, which accepts it).  Status: reproduced in
about 40 s (largest law violation 2.0e-15 over 300 steps; numbers in the README).
Run:  python derivations/kunin_torch_cnn.py [--plot out.png]
"""

import os
import sys
import tempfile

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

import noether.torch as nt

SEED, STEPS, BATCH, LR, MOMENTUM, WD = 0, 300, 64, 0.02, 0.9, 1e-3
torch.manual_seed(SEED)
net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=False), nt.BatchNorm2d(2, eps=0.0), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(2, 2, 1, bias=False), nt.BatchNorm2d(2, eps=0.0), nn.ReLU(), nn.MaxPool2d(4),
                    nn.Flatten(), nn.Linear(2, 3)).double()
digits = load_digits()
keep = digits.target < 3
X = torch.tensor(digits.images[keep] / 16.0, dtype=torch.float64).unsqueeze(1)
Y = torch.tensor(digits.target[keep])
opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)
mon = nt.Monitor(net, opt, X[:BATCH], loss="cross_entropy", trajectory=True)
print(f"{mon.model.describe()}\n{len(X)} images, {mon.derivation.n_charges} derived charges; law: {mon.law.pretty()}")

rng = np.random.default_rng(SEED)
for step in range(STEPS):
    idx = torch.as_tensor(rng.choice(len(X), BATCH, replace=False))
    opt.zero_grad()
    loss = nn.functional.cross_entropy(net(X[idx]), Y[idx])
    loss.backward()
    opt.step()
mon.close()
acc = float((net(X).argmax(1) == Y).double().mean())
print(f"after {STEPS} steps: loss {loss.item():.4f}, training accuracy {acc:.3f}")

rep = mon.report()
print(rep.table())
h = mon.history


def role(expr):
    """Which tensors a charge involves, in PyTorch's names."""
    names = {str(s).split("_")[0] for s in expr.free_symbols}
    return ", ".join(sorted(mon.model.torch_names[n] for n in names))


print("\ncharge                              tensors                      max |law violation|  max |delta C|")
law_max = float(h["violation"].max())
for i, c in enumerate(mon.derivation.charges):
    print(f"{c.name[:35]:35s} {role(c.expr)[:28]:28s} {h['violation'][:, i].max():19.2e} "
          f"{np.abs(h['delta'][:, i]).max():14.2e}")
roles = [role(c.expr) for c in mon.derivation.charges]
scale = any(r in ("0.weight", "4.weight") for r in roles)
rescale = any("1.weight" in r and "4.weight" in r for r in roles) or any("5.weight" in r and "9.weight" in r for r in roles)
translation = any(r.startswith("9.") and "4." not in r and "5." not in r for r in roles)

preds = mon.continuous()
print("\nKunin et al.'s continuous predictions vs the run (max |pred - measured| / max |C| over the run)")
print("charge                              kind         regime        modified flow   first order")
for p in preds:
    print(f"{p.charge[:35]:35s} {p.kind:12s} {p.regime:13s} {p.error:13.3e} {p.error_first_order:13.3e}")

if "--plot" in sys.argv:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out = sys.argv[sys.argv.index("--plot") + 1]
    shown = {}
    for p in preds:
        shown.setdefault(p.kind, p)
    fig, axes = plt.subplots(1, len(shown), figsize=(4.5 * len(shown), 3.4))
    for ax, (kind, p) in zip(np.atleast_1d(axes), shown.items()):
        ax.plot(p.t, p.measured, "k-", lw=2, label="PyTorch run")
        ax.plot(p.t, p.predicted, "C1--", label=f"modified flow (err {p.error:.1e})")
        ax.set(title=f"{kind}: {p.charge[:28]}", xlabel="t = eta k")
        ax.legend(fontsize=7)
    fig.suptitle(f"max exact-law violation over {STEPS} steps: {law_max:.1e}", fontsize=9)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(out)), suffix=".png")
    os.close(fd)
    os.chmod(tmp, 0o644)          # mkstemp makes it private; a plot is for reading
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, out)
    print(f"plot written to {out}")

ok = rep.ok and law_max <= 1e-10 and scale and rescale and translation and bool(preds)
print(f"\nscale {scale}, rescale {rescale}, translation {translation}; max law violation {law_max:.2e}")
print("reproduced" if ok else "NOT reproduced")
raise SystemExit(0 if ok else 1)
