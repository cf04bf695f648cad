"""Correctness of the performance paths (issue 7): the Gram-product charge families, the
row-major bias gradient, the BLAS thread switch, and the benchmark's agreement check.  No timing."""

import os

import numba
import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from noether.derive.charges import i_, j_
from noether.derive.derivation import derive
from noether.kernels import primitives as P
from noether.kernels.gramform import GRAM_MIN_H, NotGram, gram_families, gram_function, gram_terms
from noether.kernels.printer import family_function
from noether.model import Model
from noether.optim import make_rule
from noether.run.chunks import loss_and_grad


def _linear_mlp(d, h, o, bias=True, act=None):
    layers = [{"type": "linear", "out": h, "bias": bias}]
    if act:
        layers.append({"type": "activation", "fn": act})
    layers.append({"type": "linear", "out": o})
    return Model.from_dict({"name": "t", "input": d, "loss": "mse", "layer": layers})


def _compile(src):
    """Run generated source as plain Python (njit → identity); gram_pair stays the compiled primitive."""
    ns = {"np": np, "math": __import__("math"), "gram_pair": P.gram_pair,
          "njit": lambda *a, **k: (lambda f: f)}
    exec(src, ns)
    return ns


def test_gram_form_is_the_balancedness_matrix():
    """Du, Hu & Lee 2018: W1 W1ᵀ + b bᵀ − W2ᵀ W2 for a two-layer linear net, read off the formula."""
    fams = {f.kind: f for f in gram_families(derive(_linear_mlp(3, 4, 2)))}
    want = {(1.0, "W1", 0), (1.0, "b1", 0), (-1.0, "W2", 1)}
    for kind in ("unit", "pair"):
        assert {(t.coef, t.block, t.axis) for t in fams[kind].terms} == want


def test_not_gram_is_refused():
    import sympy as sp
    W = sp.IndexedBase("W1")
    with pytest.raises(NotGram):
        gram_terms(W[i_, 0] * W[j_, 1], "pair")          # different columns: not a Gram entry
    assert gram_function("f", W[i_, 0] * W[j_, 0], "pair", GRAM_MIN_H - 1, {"W1": (0, (GRAM_MIN_H - 1, 1))}) is None


@settings(max_examples=3, deadline=None, phases=[Phase.explicit, Phase.generate])   # no shrinking: numba-heavy
@given(d=st.integers(1, 5), extra=st.integers(0, 8), o=st.integers(1, 4), bias=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_gram_pair_matches_printed_loop(d, extra, o, bias, seed):
    """Every variant (value, quadratic part) of every pair family, both ways, serial and parallel.

    Both sum the same ≤ d+1+o products in different orders; float64 rounding is then at most
    (d+1+o)·2⁻⁵² of the abs-term scale, so 1e-13 of that scale is a safe bound.  The Gram path's
    scale is the Cauchy–Schwarz bound: at least the abs-term sum (up to the same rounding) and at
    most Σ_t |c_t| ‖M_t‖_F²."""
    h = GRAM_MIN_H + extra
    m = _linear_mlp(d, h, o, bias)
    deriv = derive(m)
    indexed = {b.name: (m.offsets[b.name], b.shape) for b in m.blocks}
    theta = np.random.default_rng(seed).standard_normal(m.D)
    (cf,) = [c for c in deriv.charge_families if c.kind == "pair"]
    expr = cf.indexed(cf.terms[0][1].itf)
    n = h * (h - 1) // 2
    outs = {}
    for ab in (True, False):
        src_g = gram_function("fg", expr, "pair", h, indexed, absolute=ab)
        assert src_g is not None and "gram_pair" in src_g
        src_l = family_function("fl", expr, ["i", "j"], [h], indexed, absolute=ab)
        a, b = np.full(n + 3, np.nan), np.full(n + 3, np.nan)
        assert _compile(src_g)["fg"](theta, a, 2) == n + 2 == _compile(src_l)["fl"](theta, b, 2)
        assert np.isnan(a[:2]).all() and np.isnan(a[-1])  # writes exactly out[start:start+n]
        outs[ab] = a[2:-1], b[2:-1]
    cs, terms = outs[True]
    assert (terms >= 0).all()
    np.testing.assert_array_less(terms * (1 - 1e-13), cs + 1e-300)
    fam = gram_families(deriv)[[c.kind for c in deriv.charge_families].index("pair")]
    size = {bl.name: int(np.prod(bl.shape)) for bl in m.blocks}
    frob = sum(abs(t.coef) * float(np.sum(theta[m.offsets[t.block]:m.offsets[t.block] + size[t.block]] ** 2))
               for t in fam.terms)
    assert cs.max() <= frob * (1 + 1e-12)           # ‖M_i‖‖M_j‖ <= ‖M‖_F²
    val_g, val_l = outs[False]
    np.testing.assert_array_less(np.abs(val_g - val_l), 1e-13 * terms + 1e-300)
    # the block-parallel path forms every entry by the same product: identical bits
    sig = _gram_args(src_g)
    par, ser = np.empty(n), np.empty(n)
    P.gram_pair(theta, par, 0, h, *sig, False, 1)
    P.gram_pair(theta, ser, 0, h, *sig, False, 0)
    assert np.array_equal(par, ser) and np.array_equal(ser, val_g)


def _gram_args(src):
    """(offs, n0, n1, axes, coefs) of a generated gram_pair call."""
    import re
    arrs = re.findall(r"np\.array\(\(([^)]*)\)\)", src)
    vals = [[float(v) for v in a.split(",") if v.strip()] for a in arrs]
    return tuple(np.array(v, dtype=np.int64) for v in vals[:4]) + (np.array(vals[4]),)


def test_linear_bwd_matches_numpy():
    """Row-major bias reduction and both products against numpy (same sums, reordered: 1e-12 rel)."""
    rng = np.random.default_rng(7)
    N, n_in, n_out = 37, 5, 6
    theta = rng.standard_normal(n_in * n_out + n_out)
    X, dZ = rng.standard_normal((N, n_in)), rng.standard_normal((N, n_out))
    grad, dX = np.zeros_like(theta), np.empty((N, n_in))
    P.linear_bwd(theta, grad, 0, n_in * n_out, n_in, n_out, True, X, dZ, dX, True)
    W = theta[:n_in * n_out].reshape(n_out, n_in)
    np.testing.assert_allclose(grad[:n_in * n_out].reshape(n_out, n_in), dZ.T @ X, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad[n_in * n_out:], dZ.sum(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dX, dZ @ W, rtol=1e-12, atol=1e-12)


def test_blas_threads_switch_and_restore():
    before = [g() for g, _ in P._openblas_handles()]
    with P.blas_threads(1):
        assert all(g() == 1 for g, _ in P._openblas_handles())
    assert [g() for g, _ in P._openblas_handles()] == before
    assert P.blas_threads_for(1e3) == 1


def test_gram_kernels_in_generated_module_and_bench_agreement():
    """A linear MLP wide enough for the Gram path: the generated module uses it, the exact GD law holds
    at every step (verify's 1e-10), and the numpy baseline's charges agree to the benchmark's 1e-10."""
    from noether.bench.problems import Problem
    from noether.bench.suite import bench_problem
    p = Problem("linear", GRAM_MIN_H, 24, 5, input=3, out=2, lr=0.05)
    rows = bench_problem(p, ["noether", "numpy"], repeats=1)
    assert {r.method for r in rows} == {"noether", "numpy"}
    assert all(r.max_rel_diff <= 1e-10 and r.steps_per_s > 0 for r in rows)
    from noether.kernels.codegen import build_kernels
    k = build_kernels(derive(p.model()))
    assert "gram_pair(" in k.path.read_text()
    from noether.bench.methods import NoetherMethod
    m = NoetherMethod(p, None, k)
    m.check()
    assert m.law_resid <= 1e-10


def test_bench_agreement_relu_with_optional_baselines():
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    from noether.bench.problems import Problem
    from noether.bench.suite import bench_problem
    rows = bench_problem(Problem("relu", 6, 20, 4, input=3, out=2), ["noether", "numpy", "torch", "jax"], 1)
    assert max(r.max_rel_diff for r in rows) <= 1e-10


def test_bench_cli_rejects_bad_plot_name(capsys):
    from noether.cli import main
    assert main(["bench", "--plot", "x.txt"]) == 2
    assert "--plot" in capsys.readouterr().err


# ---- issue 7: the sample-parallel GD pass, the allocation-free laws, the thread policy ----

@pytest.mark.parametrize("act,width,N", [
    ("relu", 5, 64),
    # the Gram-family case compiles a second wide module (about 16 s): in the slow run, to keep the
    # default suite within CI's budget; the Gram kernels themselves are checked by the test above
    pytest.param("linear", GRAM_MIN_H, 64, marks=pytest.mark.slow),
    ("relu", 5, 2048)])
def test_parallel_gd_agrees_with_serial(act, width, N):
    """The batch split in row chunks over threads against the serial pass, whole runs.

    Both sum the same per-sample products in a different order (chunk sums, then chunks), so each
    gradient entry differs by rounding only: ~N·2⁻⁵² of the gradient's scale per step, propagated
    over 30 contracting GD steps.  1e-12·N/64 of max|·| is ~50x that bound; the per-step law must
    still hold to verify's 1e-10 on both paths.  ``linear`` at h = 48 takes the Gram path; N = 2048
    makes more chunks than cores (cache-sized tiles), each thread reusing its workspace slot."""
    from noether.kernels.codegen import build_kernels
    from noether.run.chunks import TILE_ROWS, sample_chunks
    from noether.run.gd import run_gd
    m = _linear_mlp(3, width, 2, True, None if act == "linear" else act)
    k = build_kernels(derive(m))
    assert k.module.SAMPLE_PARALLEL
    rng = np.random.default_rng(11)
    X, Y, th = rng.standard_normal((N, 3)), rng.standard_normal((N, 2)), m.init(rng)
    cores = os.cpu_count() or 1
    P = sample_chunks(k, N, m.D, True)
    assert P % cores == 0 and -(-N // P) <= TILE_ROWS[1]
    assert (P > cores) == (N > cores * TILE_ROWS[1])
    ser = run_gd(k, th, X, Y, 0.05, 30, record=True, parallel=False)
    par = run_gd(k, th, X, Y, 0.05, 30, record=True, parallel=True)
    assert ser.completed == par.completed == 30
    for a, b in ((ser.theta, par.theta), (ser.charges, par.charges), (ser.losses, par.losses)):
        assert np.max(np.abs(a - b)) <= 1e-12 * N / 64 * np.max(np.abs(a))
    assert ser.charge_resid.max() <= 1e-10 and par.charge_resid.max() <= 1e-10


@pytest.mark.parametrize("name,kw,batch", [("momentum", {"momentum": 0.9}, None), ("adam", {}, None),
                                             ("sgd", {}, 1536)])
def test_parallel_optimizer_agrees_with_serial(name, kw, batch):
    """Every optimizer loop has the same row-chunked copy as GD (``opt_<variant>_par``): whole runs,
    serial against chunked (4 chunks of 512 rows, or of 384 of the 1536-row minibatch), from a non-zero
    initial state.  Same rounding argument and bound as the GD test above, N = 2048; the momentum
    law (closed) must hold to 1e-10 on both paths, Adam closes none."""
    from noether.kernels.codegen import build_kernels
    from noether.run.chunks import sample_chunks
    from noether.run.optimizers import run_optimizer
    m = _linear_mlp(3, 5, 2, True, "relu")
    k = build_kernels(derive(m))
    rng = np.random.default_rng(13)
    N = 2048
    assert sample_chunks(k, batch or N, m.D, True) > 1
    X, Y, th = rng.standard_normal((N, 3)), rng.standard_normal((N, 2)), m.init(rng)
    rule = make_rule(name, lr=0.02, **kw)
    s0 = 0.1 * rng.standard_normal((len(rule.state), m.D)) if name == "momentum" else None
    ser = run_optimizer(k, rule, th, X, Y, 25, batch=batch, seed=3, parallel=False, state0=s0)
    par = run_optimizer(k, rule, th, X, Y, 25, batch=batch, seed=3, parallel=True, state0=s0)
    assert ser.completed == par.completed == 25
    for a, b in ((ser.theta, par.theta), (ser.charges, par.charges), (ser.losses, par.losses)):
        assert np.max(np.abs(a - b)) <= 1e-12 * N / 64 * np.max(np.abs(a))
    if ser.law_checked:
        assert ser.charge_resid.max() <= 1e-10 and par.charge_resid.max() <= 1e-10


def test_optimizer_state0_shape_is_checked():
    from noether.errors import SpecError
    from noether.kernels.codegen import build_kernels
    from noether.run.optimizers import run_optimizer
    m = _linear_mlp(2, 3, 1)
    k = build_kernels(derive(m))
    X, Y = np.ones((4, 2)), np.ones((4, 1))
    with pytest.raises(SpecError, match="state0"):
        run_optimizer(k, make_rule("momentum", lr=0.1), m.init(np.random.default_rng(0)), X, Y, 2,
                      state0=np.zeros((2, m.D)))


def test_parallel_chunks_do_not_depend_on_threads():
    """The chunking fixes the summation order: 1 thread or all threads give the same bits."""
    from noether.kernels.codegen import build_kernels
    m = _linear_mlp(3, 6, 2, True, "tanh")
    k = build_kernels(derive(m))
    rng = np.random.default_rng(12)
    X, Y, th = rng.standard_normal((40, 3)), rng.standard_normal((40, 2)), m.init(rng)
    outs = []
    for n in (1, os.cpu_count() or 1):
        g, gp, lp = np.empty(m.D), np.empty((2, m.D)), np.empty(2)
        with P.numba_threads(n):
            L = k.module.loss_grad_par(th, X, Y, g, k.module.make_workspace_par(20, numba.config.NUMBA_NUM_THREADS),
                                       gp, lp)
        outs.append((L, g))
    assert outs[0][0] == outs[1][0] and np.array_equal(outs[0][1], outs[1][1])
    # and against the serial pass: the same sums regrouped (1e-13 of the scale, as above)
    Ls, gs = loss_and_grad(k, th, X, Y)
    assert abs(Ls - outs[0][0]) <= 1e-13 * abs(Ls)
    assert np.max(np.abs(gs - outs[0][1])) <= 1e-13 * np.max(np.abs(gs))


def test_batch_coupled_model_stays_serial():
    from noether.kernels.model_code import sample_separable
    m = Model.from_dict({"name": "bn", "input": 3, "loss": "mse", "layer": [
        {"type": "linear", "out": 4}, {"type": "batchnorm"}, {"type": "linear", "out": 2}]})
    assert not sample_separable(m)
    assert sample_separable(_linear_mlp(3, 4, 2))


def test_law_functions_use_preallocated_scratch():
    """No per-step allocation in the generated laws: every atom lives in the loop's scratch rows."""
    from noether.kernels.codegen import build_kernels
    import re
    from pathlib import Path

    from noether.optim import make_rule
    k = build_kernels(derive(_linear_mlp(2, 3, 2, True, "relu")))
    for name in ("gd", "momentum", "adam"):
        mod = k.rule_module(make_rule(name))
        src = Path(mod.__file__).read_text()
        found = re.findall(r"\ndef (lawv_\w+)\((.*?)\):\n(.*?)(?=\n@njit|\n# ----|\Z)", src, re.S)
        assert found, name
        for fn in found:
            assert "np.empty" not in fn[2] and "np.zeros" not in fn[2], fn[0]
            assert fn[1].endswith("scr, wv, charges_quad, charges_lin, charges_abs")
        assert mod.LAW_ROWS >= 4


def test_thread_policy_helpers():
    assert P.busy_cores() >= 0
    assert 1 <= P.kernel_threads() <= (os.cpu_count() or 1)
    import numba
    before = numba.get_num_threads()
    with P.numba_threads(1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


def test_compiled_dop853_matches_scipy():
    """The compiled DOP853 loop against scipy.integrate.DOP853 on a smooth (tanh) gradient flow.

    Same tableau, step control and initial step; only the stage sums' rounding order differs, so
    both are rtol-1e-10 solutions of the same ODE: their end states differ by the global error of
    each, ~1e-10 relative per unit time over T = 1.  1e-7 leaves a 1000x margin; the trajectory
    must also reach T with a similar number of records."""
    from scipy.integrate import DOP853

    from noether.kernels.codegen import build_kernels
    from noether.run.flows import ATOL, RTOL, gradient_flow
    m = _linear_mlp(3, 4, 2, True, "tanh")
    k = build_kernels(derive(m))
    rng = np.random.default_rng(13)
    X, Y, th = rng.standard_normal((20, 3)), rng.standard_normal((20, 2)), m.init(rng)
    fl = gradient_flow(k, th, X, Y, 1.0)
    assert fl.complete and fl.message == "reached the end time"

    def rhs(t, y):
        return -loss_and_grad(k, y, X, Y)[1]

    s = DOP853(rhs, 0.0, th, 1.0, rtol=RTOL, atol=ATOL)
    while s.status == "running":
        s.step()
    assert np.max(np.abs(fl.y[-1] - s.y)) <= 1e-7 * np.max(np.abs(s.y))
    assert fl.t[0] == 0.0 and np.all(np.diff(fl.t) > 0) and fl.t[-1] == 1.0
