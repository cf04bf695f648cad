"""noether.torch.SelfAttention: nn.MultiheadAttention (self-attention) imported as noether's
``attention`` layer; forward equality in float64, parameter names both ways, refusals, and a derived
charge's exact plain-GD law checked on a torch run."""


import numpy as np
import pytest

from noether.errors import SpecError

torch = pytest.importorskip("torch", reason="noether.torch needs the optional extra: pip install -e '.[torch]'")
from torch import nn  # noqa: E402

import noether.torch as nt  # noqa: E402


def _net(E, H, bias, T, out=3, seed=0, batch_first=True):
    torch.manual_seed(seed)
    if batch_first:
        att = nt.SelfAttention(E, H, bias=bias)
    else:
        att = nt.SelfAttention.wrap(nn.MultiheadAttention(E, H, bias=bias))
    net = nn.Sequential(att, nn.Flatten(), nn.Linear(T * E, out)).double()
    if bias:   # PyTorch initialises the in/out projection biases to 0: make them random so they are tested
        with torch.no_grad():
            att.attn.in_proj_bias.normal_()
            att.attn.out_proj.bias.normal_()
    return net


@pytest.mark.parametrize("E,H,bias,T,batch_first", [(2, 1, True, 2, True), (4, 2, True, 3, True),
                                                    (6, 3, False, 2, True), (4, 2, True, 3, False)])
def test_attention_forward_equals_module_and_names_round_trip(E, H, bias, T, batch_first):
    net = _net(E, H, bias, T, batch_first=batch_first)
    x = torch.randn(5, T, E, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    model, theta = nt.from_module(net, x, loss="mse")
    assert model.seq == T and model.features == E
    att = model.layers[0]
    assert (att.heads, att.d_k, att.d_v, att.n_out, att.bias) == (H, E // H, E // H, E, bias)
    y = net(x).detach().numpy()
    ours = model.forward(theta, x.reshape(5, -1).numpy())
    # the same float64 operations in another order (projections, softmax, products): ~1e-16
    # relative per operation, a few dozen of them on O(1) values
    assert np.allclose(ours, y, rtol=1e-12, atol=1e-13)
    sd = nt.to_state_dict(model, theta)
    assert set(sd) == {n for n, _ in net.named_parameters()}
    assert all(torch.equal(sd[n], p.detach()) for n, p in net.named_parameters())   # exact: copies only
    assert np.array_equal(nt.from_state_dict(model, net.state_dict()), theta)
    # per-head split: head h's query rows are in_proj_weight[h·d:(h+1)·d]
    W = net[0].attn.in_proj_weight.detach().numpy()
    d = E // H
    assert np.array_equal(model.unflatten(theta)["WQ1"][H - 1], W[(H - 1) * d:H * d])
    assert np.array_equal(model.unflatten(theta)["WV1"][0], W[2 * E:2 * E + d])
    # export a changed θ, load it, and the module's forward is the model's at that θ
    th2 = theta + np.random.default_rng(2).normal(size=theta.shape)
    net.load_state_dict(nt.to_state_dict(model, th2), strict=False)
    assert np.allclose(model.forward(th2, x.reshape(5, -1).numpy()), net(x).detach().numpy(), rtol=1e-12,
                       atol=1e-13)


def test_attention_inside_residual_and_stacked_with_activation():
    """Residual(SelfAttention) → Tanh on the (T, E) tokens → SelfAttention → Flatten → Linear."""
    torch.manual_seed(5)
    net = nn.Sequential(nt.Residual(nt.SelfAttention(4, 2)), nn.Tanh(), nt.SelfAttention(4, 1, bias=False),
                        nn.Flatten(), nn.Linear(12, 2)).double()
    x = torch.randn(6, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    model, theta = nt.from_module(net, x, loss="mse")
    # as above: float64 rounding of the same operations in another order, now through two attentions
    assert np.allclose(model.forward(theta, x.reshape(6, -1).numpy()), net(x).detach().numpy(), rtol=1e-12,
                       atol=1e-13)
    sd = nt.to_state_dict(model, theta)
    assert set(sd) == {n for n, _ in net.named_parameters()}
    assert all(torch.equal(sd[n], p.detach()) for n, p in net.named_parameters())


def test_attention_refusals_are_one_line_and_name_the_option():
    x = torch.randn(3, 2, 4)

    def imp(mha, inp=x):
        return nt.from_module(nn.Sequential(nt.SelfAttention.wrap(mha), nn.Flatten(), nn.Linear(8, 2)), inp)

    for kw, opt in ((dict(kdim=3), "kdim=3"), (dict(vdim=3), "vdim=3"), (dict(add_bias_kv=True), "add_bias_kv"),
                    (dict(add_zero_attn=True), "add_zero_attn"), (dict(dropout=0.1), "dropout=0.1")):
        with pytest.raises(SpecError, match=r"^0\.attn: MultiheadAttention: .*" + opt) as e:
            imp(nn.MultiheadAttention(4, 2, batch_first=True, **kw))
        assert "\n" not in str(e.value)
    with pytest.raises(SpecError, match="wrap it as noether.torch.SelfAttention.wrap"):
        nt.from_module(nn.Sequential(nn.MultiheadAttention(4, 2)), x)
    with pytest.raises(SpecError, match=r"expects \(tokens, 4\)"):
        nt.from_module(nn.Sequential(nn.Flatten(), nt.SelfAttention(4, 2)), x)
    with pytest.raises(SpecError, match=r"^1\.attn: MultiheadAttention: expects the model's input tokens \(2, 5\)"):
        nt.from_module(nn.Sequential(nn.Conv1d(2, 3, 2), nt.SelfAttention(4, 2)), torch.randn(3, 2, 5))


@pytest.mark.parametrize("heads", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_attention_charge_follows_exact_gd_law_on_torch_run(heads):
    """embed 2, 1 head (24 parameters; derive ~26 s) or 2 heads (34 parameters; derive ~170 s at load
    4.5, hence slow), seq 2: derive the imported model's charges, then plain SGD in
    float64.  The Monitor checks its derived law, and the test checks the GD law itself,
    ΔC = η²/2 gᵀAg (the first-order term −η gᵀ(Aθ + c) vanishes by the symmetry), on θ and g read
    from torch at every step."""
    net = _net(2, heads, True, 2, out=2, seed=3)
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(8, 2, 2, dtype=torch.float64, generator=g), torch.randn(8, 2, dtype=torch.float64, generator=g)
    eta = 0.05
    opt = torch.optim.SGD(net.parameters(), lr=eta)
    mon = nt.Monitor(net, opt, x, loss="mse")
    assert mon.law.closed
    C, model = mon.charges, mon.model
    th, gr = [], []
    for _ in range(20):
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        th.append(nt.from_state_dict(model, net.state_dict()))
        gr.append(nt.from_state_dict(model, {k: p.grad for k, p in net.named_parameters()}))
        opt.step()
    th.append(nt.from_state_dict(model, net.state_dict()))
    mon.close()
    rep = mon.report()
    assert rep.ok and rep.checks, rep.table()
    u = 2.0 ** -53
    moved = 0.0
    for k in range(20):
        delta = C.value(th[k + 1]) - C.value(th[k])
        pred = 0.5 * eta ** 2 * C.B(gr[k], gr[k])
        # each of C(θ_k), C(θ_k+1) and the update θ − ηg rounds a few times, ≤ u relative to the
        # magnitudes |θ|ᵀ|A||θ| + |c|ᵀ|θ| and η²|g|ᵀ|A||g|: 16·u·S, the Monitor's bound
        S = sum(0.5 * C.B(t, t, True) + C.L(t, True) for t in (th[k], th[k + 1])) \
            + 0.5 * eta ** 2 * C.B(gr[k], gr[k], True)
        assert np.all(np.abs(delta - pred) <= 16 * u * S), (k, delta, pred)
        moved = max(moved, np.abs(delta).max())
    h = mon.history
    assert np.allclose(h["delta"], [C.value(th[k + 1]) - C.value(th[k]) for k in range(20)], rtol=0, atol=1e-15)
    assert moved > 1e3 * h["violation"].max()   # some charge really moves, by the η² term
