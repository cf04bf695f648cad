"""Shared by the permutation experiments: scikit-learn's digits (offline, inside scikit-learn) and
a minimal seeded minibatch Adam on the numpy reference gradient (``Model.loss_and_grad``).
Public API only.  (A ``train`` verb and a datasets loader are being added elsewhere; this helper is
deliberately small so they can replace it.)"""

from __future__ import annotations

import numpy as np

import noether


def digits(seed: int = 0, test: float = 0.25):
    """(X_train, Y_train, X_test, Y_test): pixels standardised by the training statistics, Y one-hot."""
    from sklearn.datasets import load_digits      # optional extra 'data'
    X, y = load_digits(return_X_y=True)
    idx = np.random.default_rng([seed, 1797]).permutation(len(X))
    n_test = int(round(test * len(X)))
    te, tr = idx[:n_test], idx[n_test:]
    mu, sd = X[tr].mean(axis=0), X[tr].std(axis=0)
    sd[sd == 0] = 1.0
    X = (X - mu) / sd
    Y = np.eye(10)[y]
    return X[tr], Y[tr], X[te], Y[te]


def mlp_spec(widths, *, fixed: int = 0, figlu: bool = False, fixed_seed: int = 0, fixed_scale: float = 1.0,
             figlu_scale: float = 1.0, norm: bool = False) -> str:
    """A ReLU MLP spec input-widths...-10 with cross-entropy; ``fixed``: W-asymmetric linear layers
    (K fixed entries per row); ``figlu``: σ-asymmetric x*sigmoid(Fx) in place of ReLU; ``norm``: an
    affine LayerNorm before every hidden nonlinearity (Lim et al.'s MLPs)."""
    s = f'input = {widths[0]}\nloss = "cross_entropy"\n'
    for i, w in enumerate(widths[1:]):
        s += f'[[layer]]\ntype = "linear"\nout = {w}\n'
        if fixed:
            s += f"fixed = {fixed}\nfixed_seed = {fixed_seed}\nfixed_scale = {fixed_scale}\n"
        if i < len(widths) - 2 and norm:
            s += '[[layer]]\ntype = "layernorm"\naffine = true\n'
        if i < len(widths) - 2:
            s += (f'[[layer]]\ntype = "figlu"\nseed = {fixed_seed + i}\nscale = {figlu_scale}\n' if figlu else
                  '[[layer]]\ntype = "activation"\nfn = "relu"\n')
    return s


def train(model: noether.Model, X, Y, seed: int, epochs: int = 30, lr: float = 1e-3, batch: int = 64):
    """Adam (Kingma & Ba 2015) on seeded minibatches from seeded He initialisation."""
    rng = np.random.default_rng([seed, 2022])
    theta = model.init(rng)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    b1, b2, eps, k = 0.9, 0.999, 1e-8, 0
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for s in range(0, len(X), batch):
            i = order[s:s + batch]
            _, g = model.loss_and_grad(theta, X[i], Y[i])
            k += 1
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            theta = theta - lr * (m / (1 - b1 ** k)) / (np.sqrt(v / (1 - b2 ** k)) + eps)
    return theta


def accuracy(model, theta, X, Y) -> float:
    return float(np.mean(model.forward(theta, X).argmax(axis=1) == Y.argmax(axis=1)))
