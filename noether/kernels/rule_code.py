"""An optimizer variant's module: its exact law and its step, printed from the rule's symbolic
update, model-independent (the law reaches a model's charges through its arguments)."""

from __future__ import annotations

import dataclasses
import re

import sympy as sp

from .._version import __version__
from ..derive.laws import derive_law
from ..optim import HYPER, OPTIMIZERS
from ..optim.base import first as first_sym, step as step_sym, vec
from .printer import KernelPrinter, primitives_import


POLARISE_ROWS = 4   # scratch rows polarise uses; the atoms' rows follow


def law_code(law, rule, rows: list | None = None) -> str:
    """The right-hand side of ``law`` (a derived :class:`~noether.derive.laws.Law` of ``rule``),
    ``lawv_<variant>(theta, grad, S, hp, first, out, out_abs, scr, wv, charges_quad, charges_lin,
    charges_abs)``, with each atom B(u,v), L(u) evaluated through the charge parts it is handed
    (B(u,u) = 2 quad(u); B(u,v) by polarisation; L(u) = lin(u)), and a matching abs scale.  State
    vector i is ``S[i]``, hyperparameters are ``hp`` (order of :data:`noether.optim.HYPER`).
    ``scr`` (rows, n_charges) and ``wv`` (n_params,) are scratch the runner allocates once (rows:
    the module's ``LAW_ROWS``, the maximum of what ``rows`` collects).  The charge parts are
    arguments (:data:`noether.kernels.loops.CHARGES`), so the law knows no model: one module per
    variant serves every model."""
    vname = {"theta": "theta", "g": "grad", **{s: f"S[{i}]" for i, s in enumerate(rule.state)}}
    head = (f"def lawv_{rule.variant}(theta, grad, S, hp, first, out, out_abs, scr, wv, "
            "charges_quad, charges_lin, charges_abs):")
    symmap = {sym: f"hp[{i}]" for i, sym in enumerate(HYPER.values())} | {first_sym: "first"}
    lines = ["@njit(cache=True)", head, "    nC = out.shape[0]"]
    if not law.closed:
        lines += [f"    # no closed law: {law.note}", "    for q in range(nC):",
                  "        out[q] = 0.0", "        out_abs[q] = 0.0"]
        return "\n".join(lines) + "\n"
    rhs = law.rhs
    atoms = sorted(rhs.atoms(sp.Function), key=str)
    if rows is not None:
        rows.append(POLARISE_ROWS + 2 * len(atoms))
    mapping, absmap = {}, {}
    pr = KernelPrinter(symmap)
    # the law is linear in its atoms; an atom whose coefficient is 0 at run time (GD's weight-decay
    # terms at λ = 0) is not computed, only zeroed (its rows enter out_abs)
    expanded = sp.expand(rhs)
    coef = {a: expanded.coeff(a) for a in atoms}
    gated = not any(c.has(*atoms) for c in coef.values()) and \
        sp.expand(expanded - sum(c * a for a, c in coef.items())) == 0
    for n, atom in enumerate(atoms):
        name = f"atom{n}"
        args = [vname[str(a)] for a in atom.args]
        # rows of the scratch the loop preallocates: no allocation per step
        lines.append(f"    {name} = scr[{2 * n + POLARISE_ROWS}]")
        lines.append(f"    {name}_abs = scr[{2 * n + POLARISE_ROWS + 1}]")
        if atom.func.__name__ == "B" and args[0] == args[1]:
            work = [f"charges_quad({args[0]}, {name}, 0)", f"{name} *= 2.0",
                    f"charges_abs({args[0]}, {name}_abs, 0)"]   # bounds the quadratic part's scale
        elif atom.func.__name__ == "B":
            work = [f"polarise({args[0]}, {args[1]}, {name}, {name}_abs, scr, wv, charges_quad, charges_abs)"]
        else:
            work = [f"charges_lin({args[0]}, {name}, 0)", f"charges_abs({args[0]}, {name}_abs, 0)"]
        if gated:
            # nonzero when any of its terms is (out_abs sums their magnitudes separately)
            terms = [t.xreplace({atom: 1}) for t in sp.Add.make_args(expanded) if t.has(atom)]
            cond = " + ".join(f"abs({pr.doprint(t)})" for t in terms)
            lines += [f"    if {cond} != 0.0:"] + [f"        {w}" for w in work] + [
                "    else:", f"        {name}[:] = 0.0", f"        {name}_abs[:] = 0.0"]
        else:
            lines += [f"    {w}" for w in work]
        mapping[atom] = sp.Symbol(f"{name}[q]")
        absmap[atom] = sp.Symbol(f"{name}_abs[q]")
    body = pr.doprint(rhs.xreplace(mapping))
    abs_body = " + ".join(f"abs({pr.doprint(t.xreplace({a: 1 for a in atoms}))}) * " +
                          " * ".join(f"{absmap[a]}" for a in atoms if t.has(a))
                          for t in sp.Add.make_args(sp.expand(rhs))) or "0.0"
    lines += ["    for q in range(nC):", f"        out[q] = {body}", f"        out_abs[q] = {abs_body}"]
    return "\n".join(lines) + "\n"


def _without(expr, zero: frozenset):
    """``expr`` with the hyperparameters named in ``zero`` set to 0 (exactly: they are 0 in the run)."""
    return expr.subs({HYPER[n]: 0 for n in zero}) if zero else expr


def step_code(rule, zero: frozenset = frozenset()) -> str:
    """``step_<variant>(theta, grad, S, hp, k, first)``: one optimizer step in place, printed from
    the same symbolic rule the laws are derived from (every coordinate's new values are computed
    from its step-k values before any is written); the hyperparameters in ``zero`` are 0."""
    upd = {t: _without(e, zero) for t, e in rule.update().items()}
    names = ["theta", "g", *rule.state]
    code = {"theta": "theta[r]", "g": "grad[r]", **{s: f"S[{i}, r]" for i, s in enumerate(rule.state)}}
    # hyperparameters are read into scalars before the loop: an hp[i] inside it may alias theta
    # for all the compiler knows, which keeps the loop from being vectorised
    symmap = {sym: f"h{i}" for i, sym in enumerate(HYPER.values())}
    symmap |= {first_sym: "first", step_sym: "k"} | {vec(n): code[n] for n in names}
    pr = KernelPrinter(symmap)
    used = sorted({i for i, sym in enumerate(HYPER.values()) for e in upd.values() if e.has(sym)})
    lines = ["@njit(cache=True)", f"def step_{rule.variant}(theta, grad, S, hp, k, first):",
             f'    """{rule.describe()}"""'] + [f"    h{i} = hp[{i}]" for i in used] + [
             "    for r in range(theta.shape[0]):"]
    order = list(upd)
    for n, t in enumerate(order):
        lines.append(f"        new{n} = {pr.doprint(upd[t])}")
    for n, t in enumerate(order):
        lines.append(f"        {code[t]} = new{n}")
    return "\n".join(lines) + "\n"


def rule_variants():
    """One rule per kernel variant: every registered optimizer, coupled and decoupled decay."""
    out = {}
    for cls in OPTIMIZERS.values():
        for dec in (False, True):
            r = cls(decoupled=dec)
            out.setdefault(r.variant, r)
    return out


#: the charge parts a law takes, in its arguments' order
LAW_ARGS = ("charges_quad", "charges_lin", "charges_abs")


def rule_module_source(rule, zero: frozenset = frozenset()) -> str:
    """The module of one optimizer variant: its law ``lawv_<variant>`` and its step
    ``step_<variant>``, which the compiled rule runner :func:`noether.kernels.loops.run_rule` calls
    with a model's pass and charge parts as arguments.  Neither reads a model, so one module (and
    one numba compile) per variant serves every model in the cache folder.

    ``zero``: hyperparameters that are 0 in the runs this module serves, printed as 0, so that a
    law term they switch off (GD's weight-decay atoms at λ = 0) is neither compiled nor computed."""
    law = derive_law(rule, general=True)   # memoised: the same Law the derivation reports
    if zero and law.closed:
        law = dataclasses.replace(law, rhs=_without(law.rhs, zero))
    rows = [POLARISE_ROWS]
    var = rule.variant
    lawtext = law_code(law, rule, rows)
    body = "\n\n".join([lawtext, step_code(rule, zero)])
    inside = lawtext.split(":\n", 1)[1]       # below the def line, which lists all of them
    used = tuple(p for p in LAW_ARGS if re.search(rf"\b{p}\b", inside))
    loops_import = "from noether.kernels.loops import polarise\n" if "polarise(" in body else ""
    head = (f'"""Generated by noether {__version__}: optimizer variant {var}'
            + (f" with {', '.join(sorted(zero))} = 0" if zero else "") +
            '.\n\nDo not edit: it is regenerated when a run asks for this variant.\n"""\n\n'
            "import math\n\nimport numpy as np\nfrom numba import njit\n\n" + loops_import
            + primitives_import(body) + "\n"
            f"# whether the variant's law closes, read by the runner (which derives nothing itself)\n"
            f"LAW_CLOSED_{var} = {bool(law.closed)}\n"
            f"LAW_ROWS = {max(rows)}   # scratch rows of the law function\n"
            f"# the charge parts the law calls (the runner binds only these)\n"
            f"LAW_PARTS = {used!r}\n\n\n")
    return head + body
