"""Overhead of noether.torch.Monitor on a PyTorch training step (float32, torch.optim.SGD).

An MLP 64 -> h -> relu -> 10 with MSE, minibatch 256.  Three loops in the same process,
interleaved, each timed over the same number of steps (median of repeats): plain training, the
monitor recording every charge at every step, and the monitor also checking the derived law at
every step.  Prints the ratios against the plain loop.  The issue's target is a 1M-parameter
MLP; the monitor evaluates explicit charges, which the derivation gives up to 2000 parameters,
so at 1M parameters it is refused up front (printed) and the ratios are measured at h = 26
(D = 1960).   Run:  python benchmarks/torch_monitor_overhead.py [--steps 200] [--repeats 5]
"""

import argparse
import time

import numpy as np
import torch
from torch import nn

import noether
import noether.torch as nt

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=200)
ap.add_argument("--repeats", type=int, default=5)
args = ap.parse_args()


def mlp(h, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, h), nn.ReLU(), nn.Linear(h, 10))


g = torch.Generator().manual_seed(0)
x, y = torch.randn(256, 64, generator=g), torch.randn(256, 10, generator=g)

big = mlp(13500)
n_big = sum(p.numel() for p in big.parameters())
try:
    nt.Monitor(big, torch.optim.SGD(big.parameters(), lr=0.01), x, loss="mse")
    print(f"1M-parameter MLP (D = {n_big}): monitor attached")
except noether.SpecError as exc:
    print(f"1M-parameter MLP (D = {n_big}): refused: {exc}")

H = 26
deriv = noether.derive(nt.from_module(mlp(H), x, loss="mse")[0])


def run(mode):
    net = mlp(H)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    mon = None if mode == "plain" else nt.Monitor(net, opt, x, loss="mse", derivation=deriv,
                                                    check_laws=(mode == "laws"))
    t = time.perf_counter()
    for _ in range(args.steps):
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()
    dt = time.perf_counter() - t
    if mon is not None:
        assert mode != "laws" or mon.report().ok
        mon.close()
    return dt


modes = ["plain", "charges", "laws"]
times = {m: [] for m in modes}
for r in range(args.repeats):
    for m in modes[r % 3:] + modes[:r % 3]:      # rotate the order each repeat
        times[m].append(run(m))
med = {m: float(np.median(times[m])) for m in modes}
D = sum(b.size for b in deriv.model.blocks)
print(f"MLP 64 -> {H} -> 10, D = {D}, {deriv.n_charges} charges, float32 SGD momentum, batch 256, "
      f"{args.steps} steps x {args.repeats} repeats")
for m in modes:
    print(f"  {m:8s} {1e3 * med[m] / args.steps:8.3f} ms/step   ratio {med[m] / med['plain']:.2f}")
