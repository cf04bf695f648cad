"""Planted recovery: a trained network and a copy moved by a random permutation of every derived
permutation group, or by a random permutation times random positive per-unit rescalings (the
diagonal part of the derived continuous group); the fraction of 100 trials in which weight
matching recovers the planted transformation exactly, with ``modulo="permutation"`` and with
``modulo="group"`` (both networks first brought to the minimum-norm point of their orbit).
Reproduces: modulo the group, a permuted and rescaled copy is matched exactly (aligned copy equal
to A's canonical point) every time; modulo permutations alone the copy is never matched (its
scales stay), even where the permutation itself is found.
Run:  python derivations/planted_recovery.py   (needs scikit-learn)
"""

import sys
import time

import numpy as np

import noether
from _digits import digits, mlp_spec, train

TRIALS = 100
Xtr, Ytr, _, _ = digits(0)
model = noether.Model.from_toml(mlp_spec([64, 64, 64, 10]), "mlp_64")
print(model.describe())
A = train(model, Xtr, Ytr, seed=0, epochs=20)
d = noether.derive(noether.align.function_model(model))
diag = noether.align.canonical.diagonal_group(model, d)
pg = noether.align.align_permutation_groups(model)
groups = pg[1]
print(f"derived: {len(groups)} permutation groups ({', '.join(g.axis.name for g in groups)}), "
      f"{diag.k} rescaling generators")

canon_A = noether.align.canonical.canonicalise(diag, A)[0]
count = {(k, mod): 0 for k in ("permutation", "permutation x rescaling") for mod in ("permutation", "group")}
matched = dict.fromkeys(count, 0)
worst = 0.0
t0 = time.perf_counter()
for trial in range(TRIALS):
    rng = np.random.default_rng([trial, 15])
    P = A
    for g in groups:
        P = noether.align.apply_group_element(model, P, g, rng)
    S = P * np.exp(diag.D.T @ rng.uniform(-3.0, 3.0, diag.k))      # rescale: same function
    for kind, B in (("permutation", P), ("permutation x rescaling", S)):
        for mod in ("permutation", "group"):
            r = noether.align.align(model, A, B, modulo=mod, seed=trial, groups=pg, diagonal=diag)
            worst = max(worst, r.info["max_output_change"])
            # recovered: the found permutations undo the planted ones exactly
            found = r.perms.apply(P)
            count[(kind, mod)] += bool(np.array_equal(found, A))
            # matched: aligned B equals A (its canonical point modulo the group) to rounding
            # (both canonical points are converged Newton minima: ~1e-14 relative)
            matched[(kind, mod)] += bool(np.abs(r.theta - r.theta_a).max() <= 1e-9 * np.abs(r.theta_a).max())
print(f"{TRIALS} trials in {time.perf_counter() - t0:.1f} s; largest relative output change of an "
      f"aligned copy {worst:.1e}")
print("fraction of trials: permutation recovered / network matched exactly")
print(f"{'planted':<26} {'--modulo permutation':>22} {'--modulo group':>16}")
for kind in ("permutation", "permutation x rescaling"):
    cells = [f"{count[(kind, m)] / TRIALS:.2f} / {matched[(kind, m)] / TRIALS:.2f}" for m in ("permutation", "group")]
    print(f"{kind:<26} {cells[0]:>22} {cells[1]:>16}")
ok = all(count[(k, "group")] == TRIALS and matched[(k, "group")] == TRIALS for k in ("permutation", "permutation x rescaling"))
ok &= count[("permutation", "permutation")] == TRIALS and matched[("permutation x rescaling", "permutation")] == 0
ok &= worst <= 1e-9
print("exact recovery modulo the group reproduced" if ok else "NOT reproduced")
sys.exit(0 if ok else 1)
