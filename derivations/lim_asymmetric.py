"""Lim et al. (NeurIPS 2024), "The Empirical Impact of Neural Parameter Symmetries, or Lack
Thereof", at CPU scale: standard, W-Asymmetric (K fixed random entries per row of every linear
layer) and σ-Asymmetric (x ⊙ sigmoid(Fx) with a fixed random F, FiGLU) 64-256-256-10 MLPs on
scikit-learn's digits, 3 seeds each; the test-loss barrier of each of the 3 pairs, naive and after
Re-Basin weight matching over the derived permutation groups (none survive in the asymmetric nets:
``derive`` finds no permutation and a trivial continuous algebra for them).
Reproduces: the asymmetric nets interpolate with a lower naive barrier than the standard one,
and Re-Basin lowers the standard net's barrier.
Run:  python derivations/lim_asymmetric.py [K KAPPA F_SCALE]   (defaults 8 0.5 1; a few minutes; needs scikit-learn)
"""

import itertools
import sys
import time

import numpy as np

import noether
from _digits import accuracy, digits, mlp_spec, train

WIDTHS, SEEDS = [64, 256, 256, 10], (0, 1, 2)
K, KAPPA, F_SCALE = int(sys.argv[1]) if len(sys.argv) > 1 else 8, float(sys.argv[2]) if len(sys.argv) > 2 else 0.5, \
    float(sys.argv[3]) if len(sys.argv) > 3 else 1.0     # fixed entries per row, their std, FiGLU's F scale
Xtr, Ytr, Xte, Yte = digits(0)
KINDS = {"standard": mlp_spec(WIDTHS), "W-asymmetric": mlp_spec(WIDTHS, fixed=K, fixed_scale=KAPPA),
         "sigma-asymmetric": mlp_spec(WIDTHS, figlu=True, figlu_scale=F_SCALE)}
print(f"W-asymmetric: {K} fixed entries per row ~ N(0, {KAPPA}^2); sigma-asymmetric: F ~ N(0, {F_SCALE}^2/n)")

# the engine's verdict on small copies of each architecture (same layer options, widths 3)
verdict = {}
for kind in KINDS:
    small = noether.Model.from_toml(mlp_spec([4, 3, 3, 2], fixed=2 if kind == "W-asymmetric" else 0,
                                             figlu=kind == "sigma-asymmetric"))
    d = noether.derive(noether.align.function_model(small))      # the symmetries of f itself
    perms = [s for s in d.discrete if s["kind"] == "permutation"]
    print(f"{kind:<17} derive on a 4-3-3-2 copy: algebra dim {d.dim}, {len(perms)} permutation groups")
    verdict[kind] = (d.dim, len(perms))

rows, t0 = {}, time.perf_counter()
for kind, spec in KINDS.items():
    model = noether.Model.from_toml(spec, kind)
    nets = [train(model, Xtr, Ytr, seed=s, epochs=20) for s in SEEDS]
    pg = noether.align.align_permutation_groups(model)
    naive, rebasin = [], []
    for a, b in itertools.combinations(range(len(SEEDS)), 2):
        naive.append(noether.align.interpolate(model, nets[a], nets[b], Xte, Yte).barrier)
        r = noether.align.align(model, nets[a], nets[b], groups=pg)
        rebasin.append(noether.align.interpolate(model, nets[a], r.theta, Xte, Yte).barrier)
    rows[kind] = (np.mean([accuracy(model, t, Xte, Yte) for t in nets]), naive, rebasin, len(pg[1]))
print(f"trained and aligned {3 * len(SEEDS)} nets in {time.perf_counter() - t0:.0f} s\n")
print(f"{'network':<17} {'test acc':>8} {'perm groups':>11} {'naive barrier':>20} {'after Re-Basin':>20}")
for kind, (acc, naive, reb, ng) in rows.items():
    print(f"{kind:<17} {acc:>8.4f} {ng:>11d} {np.mean(naive):>11.4f} ± {np.std(naive):.4f} "
          f"{np.mean(reb):>11.4f} ± {np.std(reb):.4f}")
def below(a, b):
    """a's naive barriers lie below b's beyond their spread: mean + sd < mean − sd (3 pairs each)."""
    return np.mean(rows[a][1]) + np.std(rows[a][1]) < np.mean(rows[b][1]) - np.std(rows[b][1])


parts = {"W-asymmetric naive barrier below standard (beyond 1 sd)": below("W-asymmetric", "standard"),
         "sigma-asymmetric naive barrier below standard (beyond 1 sd)": below("sigma-asymmetric", "standard"),
         "Re-Basin lowers the standard barrier (beyond 1 sd)":
         np.mean(rows["standard"][2]) + np.std(rows["standard"][2]) < np.mean(rows["standard"][1]) - np.std(rows["standard"][1])}
for claim, held in parts.items():
    print(f"  {claim}: {'yes' if held else 'NO'}")
ok = all(parts.values())
ok &= rows["W-asymmetric"][3] == 0 and rows["sigma-asymmetric"][3] == 0
ok &= verdict["W-asymmetric"] == (0, 0) and verdict["sigma-asymmetric"] == (0, 0) and verdict["standard"][1] == 2
print("Lim et al.'s ranking reproduced" if ok else "NOT reproduced")
sys.exit(0 if ok else 1)
