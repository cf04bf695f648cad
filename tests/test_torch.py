"""noether.torch: every supported module imported and checked against PyTorch's own forward,
parameter names both ways, bad input, and the Monitor's derived laws on real torch.optim runs
(SGD plain / momentum with dampening / Nesterov, with weight decay; Adam as drift)."""

import subprocess
import sys

import numpy as np
import pytest

from noether.errors import SpecError


def test_import_noether_does_not_import_torch():
    code = ("import sys, noether, noether.model, noether.derive, noether.kernels.codegen, noether.verify; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


torch = pytest.importorskip("torch", reason="noether.torch needs the optional extra: pip install -e '.[torch]'")
from torch import nn  # noqa: E402

import noether.torch as nt  # noqa: E402


def _all_modules():
    """One network holding every supported module type (plus a Conv1d and a BatchNorm1d one)."""
    torch.manual_seed(0)
    net2d = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, stride=2), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2, padding=1),
        nn.Conv2d(3, 2, 2, bias=False), nn.AvgPool2d(2, stride=1, padding=1), nn.Flatten(), nn.Linear(18, 5),
        nn.LayerNorm(5), nt.Residual(nn.Sequential(nn.Linear(5, 5), nn.GELU(), nn.Linear(5, 5))),
        nn.LeakyReLU(0.2), nn.ELU(0.5), nn.Softplus(2.0), nn.SiLU(), nn.Tanh(), nn.Sigmoid(), nn.Identity(),
        nn.Sequential(nn.Linear(5, 3, bias=False)))
    net1d = nn.Sequential(nn.Conv1d(2, 3, 2), nn.BatchNorm1d(3), nn.Tanh(), nn.Flatten(), nn.Linear(12, 4),
                          nn.BatchNorm1d(4, affine=False), nn.Linear(4, 2))
    return [(net2d.double(), (2, 8, 8)), (net1d.double(), (2, 5))]


@pytest.mark.parametrize("k", [0, 1])
def test_forward_equals_module_and_names_map_both_ways(k):
    net, shape = _all_modules()[k]
    x = torch.randn(7, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(k))
    model, theta = nt.from_module(net, x)
    y = net(x).detach().numpy()
    ours = model.forward(theta, x.reshape(7, -1).numpy())
    # same float64 operations in another order: ~1e-16 relative per operation, tens of them
    assert np.allclose(ours, y, rtol=1e-12, atol=1e-13)
    sd = nt.to_state_dict(model, theta)
    assert set(sd) == {n for n, _ in net.named_parameters()}
    assert all(torch.equal(sd[n], p.detach()) for n, p in net.named_parameters())
    assert np.array_equal(nt.from_state_dict(model, net.state_dict()), theta)


def test_zero_eps_batchnorm_trains_and_imports_exactly():
    """noether.torch.BatchNorm1d/2d: PyTorch's own forward and buffers for eps > 0, and eps = 0
    (which F.batch_norm refuses in training) imported as the eps = 0 layer with equal outputs."""
    torch.manual_seed(1)
    x = torch.randn(6, 2, 4, 4, dtype=torch.float64)
    ref, ours = nn.BatchNorm2d(2, momentum=None).double(), nt.BatchNorm2d(2, momentum=None).double()
    for _ in range(2):       # the cumulative running averages move identically
        assert torch.equal(ref(x), ours(x))
    assert torch.equal(ref.running_var, ours.running_var) and torch.equal(ref.num_batches_tracked, ours.num_batches_tracked)
    with pytest.raises(ValueError, match="eps must be positive"):
        nn.BatchNorm2d(2, eps=0.0).double()(x)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nt.BatchNorm2d(3, eps=0.0), nn.ReLU(), nn.Flatten(),
                        nn.Linear(12, 4), nt.BatchNorm1d(4, eps=0.0, affine=False), nn.Linear(4, 2)).double()
    model, theta = nt.from_module(net, x)
    assert [l.eps for l in model.layers if l.type == "batchnorm"] == [0.0, 0.0]
    # float64 in another order of operations, a few dozen per output; batch variances are O(1)
    assert np.allclose(model.forward(theta, x.reshape(6, -1).numpy()), net(x).detach().numpy(), rtol=1e-12, atol=1e-13)


def test_bad_input_is_one_line_spec_error():
    x = torch.randn(4, 3)
    with pytest.raises(SpecError, match=r"^1\.0: unsupported module type Dropout; supported: Sequential"):
        nt.from_module(nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.Dropout(0.1))), x)
    bn = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)).eval()
    with pytest.raises(SpecError, match="eval mode.*training mode"):
        nt.from_module(bn, x)
    with pytest.raises(SpecError, match="float16"):
        nt.from_module(nn.Linear(3, 2).half(), x.half())
    with pytest.raises(SpecError, match="0: Linear: expects one feature axis of 4"):
        nt.from_module(nn.Sequential(nn.Linear(4, 2)), x)
    net = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(SpecError, match="RMSprop has no rule.*supported: torch.optim.SGD"):
        nt.Monitor(net, torch.optim.RMSprop(net.parameters()), x)


def _mlp(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2)).double()


def _double_gradients(net, opt):
    """A hook after the monitor's doubles the gradient: the update is then not the optimizer's rule
    and the law must fail."""
    def double(o, a, k):
        for p in net.parameters():
            p.grad.mul_(2.0)
    opt.register_step_pre_hook(double)


def _train(net, opt, steps, seed, corrupt=False):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(16, 2, dtype=torch.float64, generator=g), torch.randn(16, 2, dtype=torch.float64, generator=g)
    mon = nt.Monitor(net, opt, x, loss="mse")
    if corrupt:
        _double_gradients(net, opt)
    for _ in range(steps):
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()
    mon.close()
    return mon


OPTS = {
    "sgd_wd": lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.05),
    "momentum_dampening_wd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05),
    "nesterov_wd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05),
}


@pytest.mark.parametrize("name", sorted(OPTS))
def test_monitor_checks_derived_sgd_laws(name):
    net = _mlp(1)
    mon = _train(net, OPTS[name](net.parameters()), 30, 2)
    rep = mon.report()
    assert rep.ok and len(rep.checks) == 3, rep.table()       # 3 hidden ReLU units, one charge each
    h = mon.history
    assert h["charges"].shape == (31, 3) and h["violation"].shape == (30, 3)
    assert np.abs(h["delta"]).max() > 1e3 * h["violation"].max()   # the charges really move
    assert rep.to_json()["ok"] is True


def test_monitor_law_fails_when_the_update_is_not_the_optimizer_rule():
    net = _mlp(1)
    rep = _train(net, OPTS["momentum_dampening_wd"](net.parameters()), 10, 2, corrupt=True).report()
    assert not rep.ok and "FAIL" in rep.table()


def test_monitor_float32_and_every_k():
    net = _mlp(3).float()
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 2, generator=g), torch.randn(16, 2, generator=g)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    mon = nt.Monitor(net, opt, x, loss="mse", every=5)
    for _ in range(20):
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()
    h = mon.history
    assert list(h["law_step"]) == [0, 5, 10, 15] and mon.report().ok


def test_adam_reported_as_drift_with_diagnosis():
    net = _mlp(1)
    rep = _train(net, torch.optim.Adam(net.parameters(), lr=0.01), 10, 2).report()
    assert not rep.checks and "kinetic symmetry breaking" in rep.verdict
    assert len(rep.info["drift"]) == 3 and max(rep.info["drift"].values()) > 0


def test_family_charges_equal_explicit_charges():
    """The Gram-product families (used past 2000 parameters) give the explicit charges' values and
    bilinear forms: unit (ReLU rescale) and pair (GL of a linear block) families alike."""
    from noether.derive.derivation import derive
    from noether.torch.families import FamilyCharges
    from noether.torch.monitor import Charges
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4), nn.Linear(4, 2)).double()
    model, _ = nt.from_module(net, torch.randn(6, 3, dtype=torch.float64), loss="mse")
    d = derive(model)
    keys = list(dict.fromkeys(model.torch_names[b.name] for b in model.blocks))
    F, C = FamilyCharges(d, model, keys), Charges([c.expr for c in d.charges], model, keys)
    assert F.names == [c.name for c in d.charges] and any("pair" in n for n in F.names)
    g = torch.Generator().manual_seed(1)
    u, v = ([torch.randn(p.shape, dtype=torch.float64, generator=g) for p in net.parameters()] for _ in range(2))
    fb, cb = F.B(F.vector(u), F.vector(v)), C.B(C.vector(u), C.vector(v))
    scale = C.B(C.vector(u), C.vector(v), True)
    # sums of at most 10 products of O(1) numbers, in another order: a few ulps of the |terms|
    assert np.all(np.abs(fb - cb) <= 1e-14 * scale)
    # the families' rounding scale is the Cauchy-Schwarz bound of Σ|coef·u_k·v_k|: never below it,
    # and for these Gaussian vectors within a small factor (it sets a tolerance, not a verdict)
    bound = F.B(F.vector(u), F.vector(v), True)
    assert np.all(bound >= scale * (1 - 1e-14)) and np.all(bound <= 10 * scale)
    assert np.allclose(F.value(F.vector(u)), C.value(C.vector(u)), rtol=0, atol=1e-14 * scale.max())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_live_row_dots_equal_the_copies(dtype):
    """The fused pass (row dots of θ, g, v read straight from the tensors, no float64 copies) gives
    what the float64 copies give, for every pair: the same exact products (a float32 product is
    exact in float64) summed in another order, so they agree to a few ulps of the Cauchy-Schwarz
    scale (1e-14 of it leaves a wide margin).  An absent momentum buffer reads as zeros; a pair
    family (a linear block's GL) has no fused pass."""
    from noether.derive.derivation import derive
    from noether.torch.families import FamilyCharges
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 2)).to(dtype)
    model, _ = nt.from_module(net, torch.randn(5, 3, dtype=dtype), loss="mse")
    d = derive(model)
    keys = list(dict.fromkeys(model.torch_names[b.name] for b in model.blocks))
    F = FamilyCharges(d, model, keys)
    g = torch.Generator().manual_seed(5)
    vecs = [[torch.randn(p.shape, dtype=dtype, generator=g) for p in net.parameters()] for _ in range(3)]
    for groups in (vecs, vecs[:2] + [None]):
        live = F.live(groups)
        copy = [F.vector(v) if v is not None else F.zeros() for v in groups]
        for a in range(3):
            for b in range(3):
                scale = F.B(copy[a], copy[b], True)
                assert np.all(np.abs(F.B(live[a], live[b]) - F.B(copy[a], copy[b])) <= 1e-14 * scale + 1e-300)
                assert np.all(np.abs(F.B(live[a], live[b], True) - scale) <= 1e-14 * scale + 1e-300)
    one = F.live([vecs[0]])[0]
    assert np.all(np.abs(F.value(one) - F.value(F.vector(vecs[0]))) <= 1e-14 * F.B(one, one, True))
    lin = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2)).to(dtype)
    lm, _ = nt.from_module(lin, torch.randn(5, 3, dtype=dtype), loss="mse")
    lkeys = list(dict.fromkeys(lm.torch_names[b.name] for b in lm.blocks))
    assert FamilyCharges(derive(lm), lm, lkeys).live([list(lin.parameters())]) is None


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_monitor_past_the_explicit_limit_uses_families(dtype):
    """A 20-60-30-5 MLP (3245 parameters, past the 2000 explicit charges) trained with cross-entropy:
    the monitor checks the output symmetries' families (ReLU rescales) and says the loss's own
    translations are left out; a corrupted step still fails."""
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(20, 60), nn.ReLU(), nn.Linear(60, 30), nn.ReLU(), nn.Linear(30, 5)).to(dtype)
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(32, 20, generator=g, dtype=dtype), torch.randint(0, 5, (32,), generator=g)
    for corrupt in (False, True):
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
        mon = nt.Monitor(net, opt, x, loss="cross_entropy")
        if corrupt:
            _double_gradients(net, opt)
        for _ in range(10):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        mon.close()
        rep = mon.report()
        assert len(rep.checks) == 90 and "cross_entropy loss itself are not monitored" in rep.info["scope"]
        assert rep.ok != corrupt, rep.table()
        if not corrupt:
            assert np.abs(mon.history["delta"]).max() > 1e3 * mon.history["violation"].max()


@pytest.mark.slow   # the whole reproduction: about 40 s (a 39-parameter CNN derivation and 300 monitored steps)
def test_kunin_cnn_reproduction_script(tmp_path):
    import os
    script = os.path.join(os.path.dirname(__file__), "..", "derivations", "kunin_torch_cnn.py")
    out = subprocess.run([sys.executable, script, "--plot", str(tmp_path / "k.png")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "scale True, rescale True, translation True" in out.stdout and (tmp_path / "k.png").exists()
