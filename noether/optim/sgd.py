"""Minibatch SGD (Robbins & Monro 1951): the GD rule with g_k the gradient of a seeded batch.

The symmetry identity X(θ)·∇L_B(θ) = 0 holds for every batch B, so the GD laws carry over."""

from __future__ import annotations

from .gd import GD


class SGD(GD):
    name = "sgd"
    minibatch = True
