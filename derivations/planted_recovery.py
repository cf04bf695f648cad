"""Planted recovery: a trained network and a copy moved by a random permutation of every derived
permutation group, or by a random permutation times random positive per-unit rescalings (the
diagonal part of the derived continuous group); the fraction of 100 trials in which weight
matching recovers the planted transformation exactly, with ``modulo="permutation"`` and with
``modulo="group"`` (both networks first brought to the minimum-norm point of their orbit).
Second part: a trained net with a linear block (64 → linear 32 → linear 64 → relu → 10, no
nonlinearity between the first two layers), whose derived algebra holds GL(32) on the block; the
copy is moved by permutations × rescalings × a random T ∈ GL(32) (T on W1, b1; T⁻ᵀ on W2's columns).
Reproduces: modulo the group, a permuted and rescaled (and GL-moved) copy is matched exactly
(aligned copy equal to A's canonical point) every time; modulo permutations alone the copy is
never matched (its scales stay), even where the permutation itself is found.
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

# -- a linear block: GL(32) read from the derived algebra ------------------------------------------
from scipy.linalg import expm                                     # noqa: E402

lin_model = noether.Model.from_toml(
    'input = 64\nloss = "cross_entropy"\n[[layer]]\ntype = "linear"\nout = 32\n[[layer]]\ntype = "linear"\n'
    'out = 64\n[[layer]]\ntype = "activation"\nfn = "relu"\n[[layer]]\ntype = "linear"\nout = 10\n', "linear_block")
print("\n" + lin_model.describe())
A2 = train(lin_model, Xtr, Ytr, seed=0, epochs=20)
pg2 = noether.align.align_permutation_groups(lin_model)
quo = noether.align.canonical.continuous_quotient(lin_model, noether.derive(noether.align.function_model(lin_model)),
                                                  *pg2)
print(f"derived: algebra dim {quo.dim_algebra}; GL blocks {[a.to_json() for a in quo.gl.axes]}; "
      f"{quo.diag.k} rescaling generators; {quo.n_shifts} bias shifts; quotiented dim {quo.k}")
lin_matched = {"permutation": 0, "group": 0}
worst2, t0 = 0.0, time.perf_counter()
for trial in range(TRIALS):
    rng = np.random.default_rng([trial, 16])
    # the block's bias shifts b1 → b1 + v, b2 → b2 − W2 v (exact), then rescalings, GL, permutations
    B = quo.shifts.move(A2, rng.uniform(-1.0, 1.0, quo.n_shifts)) if quo.n_shifts else A2
    B = B * np.exp(quo.diag.D.T @ rng.uniform(-3.0, 3.0, quo.diag.k))
    for ax in quo.gl.axes:
        n = ax.group.axis.size
        B = noether.align.linear_blocks.apply_gl(lin_model, quo.shapes, B, ax, expm(rng.standard_normal((n, n)) / np.sqrt(n)))
    for g in pg2[1]:
        B = noether.align.apply_group_element(lin_model, B, g, rng)
    for mod in ("permutation", "group"):
        r = noether.align.align(lin_model, A2, B, modulo=mod, seed=trial, groups=pg2, diagonal=quo)
        worst2 = max(worst2, r.info["max_output_change"])
        # canonical points stop moving below 1e-13 relative per alternation; the SVD's vectors
        # then agree to rounding / singular-value gap: 1e-8 relative
        lin_matched[mod] += bool(np.abs(r.theta - r.theta_a).max() <= 1e-8 * np.abs(r.theta_a).max())
print(f"{TRIALS} trials in {time.perf_counter() - t0:.1f} s; largest relative output change of an aligned copy "
      f"{worst2:.1e}")
print(f"{'planted':<34} {'--modulo permutation':>22} {'--modulo group':>16}")
print(f"{'shift x perm x rescaling x GL(32)':<34} {lin_matched['permutation'] / TRIALS:>22.2f} "
      f"{lin_matched['group'] / TRIALS:>16.2f}   (network matched exactly)")
ok = lin_matched["group"] == TRIALS and lin_matched["permutation"] == 0 and worst2 <= 1e-9
ok &= all(count[(k, "group")] == TRIALS and matched[(k, "group")] == TRIALS for k in ("permutation", "permutation x rescaling"))
ok &= count[("permutation", "permutation")] == TRIALS and matched[("permutation x rescaling", "permutation")] == 0
ok &= worst <= 1e-9
print("exact recovery modulo the group reproduced" if ok else "NOT reproduced")
sys.exit(0 if ok else 1)
