"""Overhead of noether.torch.Monitor on a PyTorch training step (float32, torch.optim.SGD).

MLPs 64 -> h -> relu -> 10 with MSE, minibatch 256, SGD with momentum 0.9.  For each width three
loops run in the same process, interleaved, each timed over the same number of steps (median of
repeats): plain training, the monitor recording every charge at every step, and the monitor also
checking the derived law at every step.  Prints the ratios against the plain loop.  h = 13500 is
the issue's 1M-parameter MLP (D = 1,039,510): past the 2000 explicit charges, the monitor
evaluates the charge families by Gram products on the torch tensors (noether.torch.families);
h = 26 (D = 1960) is the explicit-charge path.
Run:  python benchmarks/torch_monitor_overhead.py [--hidden 13500,26] [--steps 50] [--repeats 5]
"""

import argparse
import time

import numpy as np
import torch
from torch import nn

import noether
import noether.torch as nt

ap = argparse.ArgumentParser()
ap.add_argument("--hidden", default="13500,26", help="comma-separated hidden widths")
ap.add_argument("--steps", type=int, default=50)
ap.add_argument("--repeats", type=int, default=5)
args = ap.parse_args()


def mlp(h, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, h), nn.ReLU(), nn.Linear(h, 10))


g = torch.Generator().manual_seed(0)
x, y = torch.randn(256, 64, generator=g), torch.randn(256, 10, generator=g)
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

for H in (int(h) for h in args.hidden.split(",")):
    t0 = time.perf_counter()
    deriv = noether.derive(nt.from_module(mlp(H), x, loss="mse")[0])
    t_derive = time.perf_counter() - t0

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
            rep = mon.report()
            assert mode != "laws" or rep.ok, rep.table()
            mon.close()
        return dt

    modes = ["plain", "charges", "laws"]
    times = {m: [] for m in modes}
    for r in range(args.repeats):
        for m in modes[r % 3:] + modes[:r % 3]:      # rotate the order each repeat
            times[m].append(run(m))
    med = {m: float(np.median(times[m])) for m in modes}
    D = sum(b.size for b in deriv.model.blocks)
    print(f"MLP 64 -> {H} -> 10, D = {D}, {deriv.n_charges} charges "
          f"({'explicit' if deriv.charges is not None else 'families, Gram products'}; derived in {t_derive:.1f} s), "
          f"float32 SGD momentum, batch 256, {args.steps} steps x {args.repeats} repeats")
    for m in modes:
        print(f"  {m:8s} {1e3 * med[m] / args.steps:8.3f} ms/step   ratio {med[m] / med['plain']:.2f}")
