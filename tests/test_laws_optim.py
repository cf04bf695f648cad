"""Issue 4: symbolic laws for optimizer rules (literature forms as tests, not code paths)."""

import sympy as sp

from noether.cli import main
from noether.derive import derive
from noether.derive.laws import B, L, derive_law, derive_state_law
from noether.optim import make_rule
from noether.optim.base import beta, eta, lam

th, g, v = sp.symbols("theta g v")


def test_gd_weight_decay_scale_law_matches_theory():
    # docs/theory.md §4: |θ_{k+1}|² = (1−2ηλ)|θ_k|² + η²|g_k + λθ_k|² for a scale charge (L = 0, B(g, θ) = 0)
    law = derive_law(make_rule("gd", weight_decay=0.1))
    rhs = sp.expand(law.rhs.subs({L(g): 0, L(th): 0}))
    # ½|θ'|² − ½|θ|² with B(g,θ)=0: −ηλ B(θ,θ) + η²/2 (B(g,g) + λ² B(θ,θ))
    expect = sp.expand(-eta * lam * B(th, th) + eta**2 / 2 * (B(g, g) + lam**2 * B(th, th)))
    assert sp.expand(rhs - expect) == 0


def test_heavy_ball_rotation_charge_decays_by_beta():
    # docs/theory.md §4: antisymmetric A under heavy ball: P_{k+1} = β P_k exactly (λ = 0, τ = 0)
    law = derive_state_law(make_rule("momentum"))
    assert law.rho == beta and law.source_rotation == 0


def test_adam_has_no_closed_law():
    for name in ("adam", "adamw"):
        law = derive_law(make_rule(name))
        assert not law.closed and "kinetic symmetry breaking" in law.note


def test_law_memo_tells_apart_user_rules_with_their_own_arguments():
    # derive_law is memoised per rule; a user rule whose update depends on a constructor argument
    # outside values() must still get its own law: θ' = θ − αηg gives ΔC = α²η²/2 B(g, g)
    from noether.optim.base import vec
    from noether.optim.gd import GD

    class Scaled(GD):        # no ``name`` of its own: not registered, the catalogue is untouched
        def __init__(self, alpha, **kw):
            super().__init__(**kw)
            self.alpha = sp.Rational(alpha)

        def update(self):
            return {"theta": vec("theta") - self.alpha * eta * vec("g")}

    for alpha in (1, 3, 1):
        assert sp.expand(derive_law(Scaled(alpha)).rhs - alpha**2 * eta**2 / 2 * B(g, g)) == 0
    # and it does not run on the kernel printed from the registered "gd" rule it shares a name with
    import numpy as np
    import pytest

    from noether.errors import SpecError
    from noether.kernels.codegen import build_kernels
    from noether.model import Model
    from noether.run.optimizers import run_optimizer
    m = Model.from_dict({"input": 2, "layer": [{"type": "linear", "out": 3}, {"type": "linear", "out": 1}]})
    k = build_kernels(derive(m))
    X, Y, th = np.ones((4, 2)), np.ones((4, 1)), m.init(np.random.default_rng(0))
    for alpha in (1, 3):      # even alpha = 1: its update is not the expression gd's kernel was printed from
        with pytest.raises(SpecError, match="optimizer"):
            run_optimizer(k, Scaled(alpha), th, X, Y, 2)
    assert run_optimizer(k, make_rule("gd", lr=0.1), th, X, Y, 2).completed == 2


def test_laws_cli(capsys):
    assert main(["laws", "noether/data/demo_relu.toml", "--optimizer", "momentum", "--latex"]) == 0
    assert r"\beta" in capsys.readouterr().out
    # no closed law is an answer, the same one `verify --optimizer adam` gives (issue 11), not bad input
    assert main(["laws", "noether/data/demo_relu.toml", "--optimizer", "adam"]) == 0
    assert "no closed law: kinetic symmetry breaking" in capsys.readouterr().out


def test_bad_hyperparameters_exit_2(capsys):
    spec = "noether/data/demo_relu.toml"
    for extra in (["--optimizer", "momentum", "--momentum", "1.0"], ["--optimizer", "gd", "--weight-decay", "-0.1"],
                  ["--optimizer", "sgd", "--batch", "33"], ["--optimizer", "gd", "--lr", "-1"]):
        assert main(["verify", spec, "--steps", "5", *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("noether: error: --")
