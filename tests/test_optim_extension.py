"""Adding an optimizer with a new hyperparameter is one file: the rule class and its `Hyper`
declaration are all it takes for the rule to be registered, constructed, validated, given CLI flags
on every verb, derived into a law and run by the kernels.  Built-in rules are final classes."""

from __future__ import annotations

import json
import os

import pytest
import sympy as sp

from noether.cli import main
from noether.optim import HYPER, HYPERS, OPTIMIZERS, Hyper, UpdateRule, declare, make_rule
from noether.optim.base import eta, vec

CACHE = os.environ.get("NOETHER_CACHE", "/tmp/nc_tests")
SPEC = "noether/data/demo_relu.toml"


@pytest.fixture
def scaled_rule():
    """What a user's file `noether/optim/scaled.py` would hold: θ' = θ − γη g, γ a new hyperparameter."""
    gain = declare(Hyper("gain", sp.Symbol("gamma_gain", positive=True), 0.5, "step gain γ",
                         low=0.0, high=2.0, low_open=True))

    class Scaled(UpdateRule):
        name = "scaled"
        hyper = (*UpdateRule.hyper, gain)

        def update(self):
            return {"theta": self.decay(vec("theta") - gain.symbol * eta * self.effective_grad())}

    yield Scaled
    # the registries are process-wide: leave them as the other tests expect them
    OPTIMIZERS.pop("scaled"), HYPERS.pop("gain"), HYPER.pop("gain")


def test_one_file_gives_rule_flags_and_law(scaled_rule, capsys):
    rule = make_rule("scaled", lr=0.1, gain=0.25)
    assert rule.gain == 0.25 and rule.hp()[list(HYPER).index("gain")] == 0.25
    assert rule.hyperparameters()["gain"] == 0.25 and "momentum" not in rule.hyperparameters()
    # the generated flag reaches the rule through `verify`, whose kernels and law come from update()
    rc = main(["verify", SPEC, "--optimizer", "scaled", "--gain", "0.25", "--lr", "0.1", "--steps", "50",
               "--cache", CACHE, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["gain"] == 0.25 and out["ok"]
    assert main(["laws", SPEC, "--optimizer", "scaled", "--gain", "0.25", "--json"]) == 0
    law = json.loads(capsys.readouterr().out)
    assert law["closed"] and "gamma_gain" in law["update"]["theta"] and law["optimizer"]["gain"] == 0.25


@pytest.mark.parametrize("argv,flag", [
    (["--optimizer", "scaled", "--gain", "3"], "--gain"),            # outside its declared range
    (["--optimizer", "gd", "--gain", "0.3"], "--gain"),              # gd does not read it
    (["--optimizer", "scaled", "--momentum", "0.9"], "--momentum"),  # nor does scaled read momentum
])
def test_generated_flags_refuse_bad_values(scaled_rule, capsys, argv, flag):
    assert main(["verify", SPEC, *argv, "--steps", "5", "--cache", CACHE]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"noether: error: {flag}:") and "\n" not in err


@pytest.mark.parametrize("verb", ["verify", "laws", "sweep", "train", "claim"])
def test_every_verb_has_every_hyperparameter_flag(verb, capsys):
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    text = capsys.readouterr().out
    for h in HYPERS.values():
        assert h.flag in text, (verb, h.flag)


def test_hyper_flags_need_an_optimizer_in_verify(capsys):
    assert main(["verify", SPEC, "--weight-decay", "0.1", "--steps", "5", "--cache", CACHE]) == 2
    assert "--weight-decay" in capsys.readouterr().err


def test_registered_rules_are_final():
    """Abstract-or-final: no registered rule subclasses another registered rule."""
    classes = list(OPTIMIZERS.values())
    for a in classes:
        for b in classes:
            assert a is b or not issubclass(a, b), (a.name, b.name)
