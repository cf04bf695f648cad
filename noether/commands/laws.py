"""``noether laws SPEC --optimizer NAME``: the derived per-step laws, pretty, LaTeX or JSON."""

from __future__ import annotations

from ..derive.derivation import derive
from ..derive.laws import derive_law, derive_state_law
from ..optim import make_rule
from ._common import add_optimizer_arguments, add_spec, hyper_values, load, print_json

HELP = "print the exact per-step laws of an optimizer (pretty, --latex or --json)"


def add_arguments(p):
    add_spec(p)
    add_optimizer_arguments(p)
    p.add_argument("--general", action="store_true", help="keep every hyperparameter symbolic")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true")
    fmt.add_argument("--json", action="store_true")


def run(args) -> int:
    rule = make_rule(args.optimizer, lr=args.lr, **hyper_values(args))
    law = derive_law(rule, general=args.general)
    model = load(args)
    if not law.closed:
        # a valid answer, not bad input: the same verdict `verify` gives (it then measures the drift)
        reason = law.note.split(":")[0]
        if args.json:
            print_json({"optimizer": rule.hyperparameters(), "closed": False, "charge_law": None,
                        "reason": law.note})
        else:
            print(f"optimizer: {rule.describe()}")
            print(f"no closed law: {reason}; measure the drift with "
                  f"`noether verify SPEC --optimizer {rule.name}`")
        return 0
    deriv = derive(model)
    slaw = derive_state_law(rule, general=args.general) if rule.state else None
    charges = [{"name": c.name, "expr": str(c.expr)} for c in (deriv.charges or [])]
    if args.json:
        print_json({"optimizer": rule.hyperparameters(), "closed": True, "update": {k: str(v) for k, v in rule.update().items()},
                    "identity": law.identity, "charge_law": {"rhs": str(law.rhs), "latex": law.latex()},
                    "state_law": None if slaw is None else
                    {"state": slaw.state, "rho": str(slaw.rho), "source": str(slaw.source),
                     "source_rotation": str(slaw.source_rotation), "latex": slaw.latex()},
                    "atoms": "B(u, w) = u^T A w, L(u) = c^T u for the charge's / generator's (A, c)",
                    "charges": charges})
        return 0
    if args.latex:
        print(law.latex())
        if slaw:
            print(slaw.latex())
        return 0
    print(f"optimizer: {rule.describe()}")
    print(f"identity:  {law.identity}")
    print(f"charges:   C = 1/2 B(theta, theta) + L(theta), {len(charges)} of them for {deriv.model.name}")
    print(law.pretty())
    if slaw:
        print(slaw.pretty())
    return 0
