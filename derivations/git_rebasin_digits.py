"""Git Re-Basin at CPU scale (Ainsworth, Hayase & Srinivasa 2022; Entezari et al. 2021).

Two 64-512-512-512-10 ReLU MLPs trained on scikit-learn's digits from different seeds: the loss
barrier on the test set along the straight line between them, naive, after weight matching and
after activation matching over the *derived* permutation groups, and (if the ``rebasin`` package
is installed) after its weight matching on the same two networks, with seconds.
Reproduces: alignment removes most of the barrier (Ainsworth et al., Fig. 2 at MLP scale).
Run:  python derivations/git_rebasin_digits.py   (about a minute; needs scikit-learn)
"""

import sys
import time

import numpy as np

import noether
from _digits import accuracy, digits, mlp_spec, train

WIDTHS = [64, 512, 512, 512, 10]
Xtr, Ytr, Xte, Yte = digits(0)
model = noether.Model.from_toml(mlp_spec(WIDTHS), "mlp_512")
print(model.describe())
t0 = time.perf_counter()
A, B = train(model, Xtr, Ytr, seed=0), train(model, Xtr, Ytr, seed=1)
print(f"trained two nets in {time.perf_counter() - t0:.1f} s: test accuracy {accuracy(model, A, Xte, Yte):.4f}, "
      f"{accuracy(model, B, Xte, Yte):.4f}")

naive = noether.align.interpolate(model, A, B, Xte, Yte).barrier
rows = [("naive", naive, None, 0.0)]
for method in ("weight", "activation"):
    r = noether.align.align(model, A, B, Xtr if method == "activation" else None,
                            Ytr if method == "activation" else None, method=method)
    path = noether.align.interpolate(model, A, r.theta, Xte, Yte)
    rows.append((f"{method} matching (noether)", path.barrier, r.info["max_output_change"],
                 r.info["matching_seconds"]))

ok = True
try:
    import torch
    from rebasin import PermutationCoordinateDescent
except ImportError:
    print("rebasin package not installed: its comparison is skipped (pip install rebasin)")
    torch = None
if torch is not None:
    def to_torch(theta):
        p = model.unflatten(theta)
        mods = []
        for i, layer in enumerate(l for l in model.layers if l.has_params):
            lin = torch.nn.Linear(layer.in_dim, layer.out, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(p[layer.W].copy()))
                lin.bias.copy_(torch.from_numpy(p[layer.b].copy()))
            mods += [lin] + ([torch.nn.ReLU()] if i < len(WIDTHS) - 2 else [])
        return torch.nn.Sequential(*mods)

    def from_torch(net):
        lins = [m for m in net if isinstance(m, torch.nn.Linear)]
        return np.concatenate([t.detach().numpy().ravel() for lin in lins for t in (lin.weight, lin.bias)])

    na, nb = to_torch(A), to_torch(B)
    torch.manual_seed(0)
    t1 = time.perf_counter()
    pcd = PermutationCoordinateDescent(na, nb, torch.from_numpy(Xtr[:64]))
    pcd.rebasin()
    secs = time.perf_counter() - t1
    Bp = from_torch(nb)
    change = float(np.abs(model.forward(Bp, Xte) - model.forward(B, Xte)).max() / np.abs(model.forward(B, Xte)).max())
    rows.append(("rebasin package (weight matching)", noether.align.interpolate(model, A, Bp, Xte, Yte).barrier,
                 change, secs))

print(f"\n{'method':<36} {'test-loss barrier':>18} {'max output change':>18} {'seconds':>8}")
for name, bar, ch, secs in rows:
    print(f"{name:<36} {bar:>18.4f} {'' if ch is None else f'{ch:.1e}':>18} {secs:>8.3f}")
if torch is not None:
    print(f"weight matching time, noether / rebasin: {rows[1][3] / rows[-1][3]:.3f}")
wm, am = rows[1][1], rows[2][1]
ok &= wm < 0.5 * naive and am < 0.5 * naive
ok &= all(ch is None or ch <= 1e-9 for _, _, ch, _ in rows[1:3])
print("Git Re-Basin barrier reduction reproduced" if ok else "NOT reproduced")
sys.exit(0 if ok else 1)
