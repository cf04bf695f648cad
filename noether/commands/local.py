"""``noether local SPEC --params P.npz --data D.npz``: regions of the units, the local algebra and
charges, and the count of laws for the given data against the global count (exit 0; 2 bad input)."""

from __future__ import annotations

from ._common import add_spec, load, print_json

HELP = "local (data-dependent) symmetries: dead / bypassed units, local charges and their regions"


def add_arguments(p):
    add_spec(p)
    p.add_argument("--params", metavar="P.npz", required=True,
                   help="parameters: an array 'theta' of length D, or one array per block (W1, b1, ...)")
    p.add_argument("--data", metavar="D.npz", required=True, help="data with arrays X (and Y)")
    p.add_argument("--seed", type=int, default=0, help="seed of the derivation's generic points (default 0)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def load_inputs(args):
    """(model, theta, X, Y) from SPEC, --params and --data, every shape checked."""
    from ..run.data import load_data
    from ..run.params import load_params
    model = load(args)
    theta = load_params(model, args.params)
    X, Y = load_data(model, args.data)
    return model, theta, X, Y


def run(args) -> int:
    from ..local import local_symmetries
    model, theta, X, _ = load_inputs(args)
    res = local_symmetries(model, theta, X, seed=args.seed)
    out = res.to_json()
    if args.json:
        print_json(out)
        return 0
    print(f"{model.describe()}; {X.shape[0]} samples")
    print("units:")
    for u in res.units:
        print(f"  L{u.layer} unit {u.unit}: {u.region:9s} {u.condition()}")
    a = out["algebra"]
    print(f"algebra: local dim {a['dim']}, orbit_rank {a['orbit_rank']} "
          f"(global dim {a['global_dim']}, orbit_rank {a['global_orbit_rank']})")
    gens = out["local_generators"]
    print(f"local generators ({len(gens)} beyond the global ones{', first 6 shown' if len(gens) > 6 else ''}):")
    for g in gens[:6]:
        print(f"  {g['name']}: " + ", ".join(f"d{k} = {v}" for k, v in g["field"].items()))
    print(f"local charges ({len(res.charges)}, beyond the global ones):")
    for c in res.charges:
        print(f"  {c.name}: {c.expr}    [{c.region}]")
    c = out["count"]
    print(f"count: {c['laws']} laws for these samples at these parameters (global {c['global_laws']}); "
          f"{c['explained_by_local_algebra']} explained by the local algebra"
          + ("" if c["clear"] else "; NOT CONFIDENT (no clear singular-value gap)"))
    for n in res.notes:
        print(f"note: {n}")
    return 0
