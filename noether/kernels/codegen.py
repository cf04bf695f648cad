"""Code generation: a model's derivation printed to readable numba modules.

The model's module holds σ and σ′ of every activation, the model's unrolled forward/backward pass
(calling the hand-written primitives, on one flat workspace buffer), and every charge (one
loop per distinct charge-family code, printed from its indexed formula, plus its quadratic and
linear parts and an absolute-value scale for tolerances).  Each optimizer variant, gradient
descent included, gets a small module of its own with its law and step, printed when a run first
asks for it (:meth:`Kernels.rule_module`) and shared by every model, since the law reaches a
model's charges only through its arguments.  The loops that run them (:mod:`.loops`) are not
printed: they are compiled once per install and take these functions as arguments.  Modules are
named by a hash of their content, written atomically, and compiled by numba with ``cache=True``
next to them."""

from __future__ import annotations

import dataclasses
import functools

import hashlib
import importlib.util
import json
import inspect
import os
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy as sp

from .._version import __version__
from ..io import atomic_write
from ..derive.charges import i_, j_
from . import primitives
from .printer import KernelPrinter, explicit_function, family_function, scalar_function, split_degrees
from .gramform import gram_function
from ..derive.laws import derive_law
from ..optim import HYPER, OPTIMIZERS
from ..optim.base import first as first_sym, step as step_sym, vec

ENV_CACHE = "NOETHER_CACHE"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """``override`` > $NOETHER_CACHE > ~/.cache/noether."""
    p = Path(override or os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "noether")
    p.mkdir(parents=True, exist_ok=True)
    return p


class _Ctx:
    """What a layer's ``kernel_defs`` / ``kernel_forward`` / ``kernel_backward`` may use: offsets,
    a unique id per layer, and the printers (passed in, so ``model`` never imports ``kernels``)."""

    scalar_function = staticmethod(scalar_function)
    KernelPrinter = KernelPrinter

    def __init__(self, model):
        self.offsets = model.offsets
        self._uids: dict[int, int] = {}
        self._probe = False

    def uid(self, layer) -> int | str:
        """The layer's number in generated names (``act_fwd_3``).  While :func:`layer_defs` collects
        the definitions it is a placeholder, so that layers printing the same code share one number."""
        if self._probe:
            return f"_uid{id(layer)}_"
        return self._number(id(layer))

    def _number(self, key: int) -> int:
        return self._uids.setdefault(key, len(set(self._uids.values())) + 1)


def layer_defs(model, ctx: _Ctx) -> list[str]:
    """Each layer's ``kernel_defs``, printed once per distinct code: a layer whose definitions are
    another's up to its own number (twelve ReLU layers: one σ, one σ′, one forward and one backward
    loop) is given that layer's number instead of a copy, which numba would compile again."""
    ctx._probe = True
    try:
        texts = [(layer, layer.kernel_defs(ctx)) for layer in model.layers]
    finally:
        ctx._probe = False
    seen, defs = {}, []
    for layer, text in texts:
        own = f"_uid{id(layer)}_"
        key = (type(layer), (text or "").replace(own, "_uid_"))
        if text and own in text and key in seen:
            ctx._uids[id(layer)] = seen[key]
            continue
        if text:
            defs.append(text)
            seen.setdefault(key, ctx.uid(layer))
    # placeholders left (this layer's own, and those of layers inside containers) get their numbers
    return [re.sub(r"_uid(\d+)_", lambda m: str(ctx._number(int(m.group(1)))), d) for d in defs]


@dataclass
class ChargeLayout:
    names: list[str]           # one per charge, in the order the kernels write them
    families: list[str]


_OFFSET = re.compile(r"\bx\[(\d+)(?= \+ |\])")


class _SharedFamilies:
    """One compiled function per distinct family code.  A printed family reads the flat vector at
    fixed offsets (``x[2080 + (k)*32 + (i)]``); printed with those offsets as arguments ``o0, o1,
    ...`` the families of twelve identical ReLU layers, and a family's value and quadratic part
    when the charge is quadratic, are one function, called with each one's offsets, which numba
    compiles once instead of once per family."""

    def __init__(self, defs: list[str]):
        self.defs = defs
        self.seen: dict[str, str] = {}

    def call(self, fname: str, text: str, indexed: dict) -> str:
        offsets: list[int] = []
        for m in _OFFSET.finditer(text):
            if int(m.group(1)) not in offsets:
                offsets.append(int(m.group(1)))
        body = _OFFSET.sub(lambda m: f"x[o{offsets.index(int(m.group(1)))}", text)
        key = re.sub(r"\s*#.*", "", body.replace(f"def {fname}(", "def _("))
        at = {off: name for name, (off, _) in indexed.items()}
        names = ", ".join(f"o{k} = {at.get(o, o)}" for k, o in enumerate(offsets))
        args = "".join(f", {o}" for o in offsets)
        if key not in self.seen:
            self.seen[key] = fname
            params = "".join(f", o{k}" for k in range(len(offsets)))
            head = (f"    # o0, o1, ... : where the blocks start in x (here as for {fname}: {names})\n"
                    if offsets else "")
            body = body.replace(f"def {fname}(x, out, start):\n", f"def {fname}(x, out, start{params}):\n{head}", 1)
            self.defs.append(body)
        return f"{self.seen[key]}(x, out, n{args})" + (f"   # {fname}: {names}" if offsets else "")


def charge_code(deriv) -> tuple[str, ChargeLayout]:
    """charges / charges_quad / charges_lin / charges_abs for every charge of the derivation."""
    model = deriv.model
    indexed = {b.name: (model.offsets[b.name], b.shape) for b in model.blocks}
    defs, calls = [], {"": [], "_quad": [], "_lin": [], "_abs": []}
    names, fams = [], []
    shared = _SharedFamilies(defs)
    for n, cf in enumerate(deriv.charge_families):
        expr = cf.indexed(cf.terms[0][1].itf)
        free = [i_] if cf.kind == "unit" else [i_, j_]
        parts = split_degrees(expr)
        variants = {"": (expr, False), "_quad": (parts.get(2, sp.Integer(0)), False),
                    "_lin": (parts.get(1, sp.Integer(0)), False), "_abs": (expr, True)}
        for suffix, (e, ab) in variants.items():
            fname = f"fam{n}{suffix}"
            gram = gram_function(fname, e, cf.kind, cf.h, indexed, absolute=ab)
            if gram:
                defs.append(gram)
                calls[suffix].append(f"{fname}(x, out, n)")
                continue
            text = family_function(fname, e, [str(f) for f in free], [cf.h], indexed, absolute=ab)
            calls[suffix].append(shared.call(fname, text, indexed))
        for idx in cf.index_sets():
            names.append(f"{cf.name}[{','.join(map(str, idx))}]")
            fams.append(cf.name)
    mixed = [c for c in (deriv.charges or []) if ".mixed" in c.family]
    if mixed and sum(len(sp.Add.make_args(c.expr)) for c in mixed) > MAX_PRINTED_TERMS:
        defs.append(sparse_charge_code([c.expr for c in mixed], model.symbols))
        for suffix in calls:
            calls[suffix].append(f"mixed{suffix}(x, out, n)")
        names += [c.name for c in mixed]
        fams += [c.family for c in mixed]
    elif mixed:
        syms = model.symbols
        exprs = [c.expr for c in mixed]
        parts = [split_degrees(e, syms) for e in exprs]
        for suffix, es, ab in [("", exprs, False), ("_quad", [p.get(2, 0) for p in parts], False),
                               ("_lin", [p.get(1, 0) for p in parts], False), ("_abs", exprs, True)]:
            fname = f"mixed{suffix}"
            defs.append(explicit_function(fname, [sp.sympify(e) for e in es], syms, absolute=ab))
            calls[suffix].append(f"{fname}(x, out, n)")
        names += [c.name for c in mixed]
        fams += [c.family for c in mixed]
    printed: dict[tuple, str] = {}
    for suffix, fns in calls.items():
        same = tuple(re.sub(r"\s*#.*", "", f) for f in fns)
        if same in printed:      # e.g. the quadratic part of purely quadratic charges: one function
            defs.append(f"charges{suffix} = {printed[same]}   # the same calls\n")
            continue
        printed[same] = f"charges{suffix}"
        body = "".join(f"    n = {f}\n" for f in fns)
        defs.append(f"@njit(cache=True)\ndef charges{suffix}(x, out, start):\n    n = start\n{body}    return n\n")
    return "\n".join(defs), ChargeLayout(names, fams)


#: explicit charges with more terms than this in all are evaluated from coefficient arrays
#: (:func:`noether.kernels.primitives.sparse_charges`) instead of printed sums
MAX_PRINTED_TERMS = 2000


def sparse_charge_code(exprs: list[sp.Expr], symbols) -> str:
    """``mixed``, ``mixed_quad``, ``mixed_lin``, ``mixed_abs`` of explicit quadratic charges as
    CSR-by-charge coefficient arrays (module constants) and one shared primitive loop."""
    idx = {s: i for i, s in enumerate(symbols)}
    qptr, qr, qs, qv, lptr, li, lv = [0], [], [], [], [0], [], []
    for e in exprs:
        for mon, c in sp.expand(e).as_coefficients_dict().items():
            powers = sorted((idx[b], int(k)) for b, k in mon.as_powers_dict().items())
            degree = sum(k for _, k in powers)
            if degree == 1:
                li.append(powers[0][0]); lv.append(float(c))
            elif degree == 2:
                r, s_ = (powers[0][0], powers[0][0]) if len(powers) == 1 else (powers[0][0], powers[1][0])
                qr.append(r); qs.append(s_); qv.append(float(c))
            else:
                raise ValueError(f"charge term {mon} of degree {degree}: charges are quadratic")
        qptr.append(len(qr)); lptr.append(len(li))

    def arr(name, v, dt):
        return f"{name} = np.array({v!r}, dtype=np.{dt})"
    head = "\n".join([f"# {len(exprs)} charges as coefficients: C_k = sum MQV*x[MQR]*x[MQS] + sum MLV*x[MLI]",
                      arr("MQPTR", qptr, "int64"), arr("MQR", qr, "int64"), arr("MQS", qs, "int64"),
                      arr("MQV", qv, "float64"), arr("MLPTR", lptr, "int64"), arr("MLI", li, "int64"),
                      arr("MLV", lv, "float64")])
    fns = [f"@njit(cache=True)\ndef mixed{suffix}(x, out, start):\n"
           f"    return sparse_charges(x, out, start, MQPTR, MQR, MQS, MQV, MLPTR, MLI, MLV, {part}, {ab})\n"
           for suffix, part, ab in (("", 0, False), ("_quad", 1, False), ("_lin", 2, False), ("_abs", 0, True))]
    return head + "\n\n\n" + "\n\n".join(fns)


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


def model_code(model) -> str:
    """The model's pass ``loss_grad(theta, X, Y, grad, ws, gparts, lparts)`` (the form of
    :data:`noether.kernels.loops.LOSS_GRAD`), its row-chunked copy ``loss_grad_par`` and their
    workspaces: one flat buffer, cut into the layers' (N, d) intermediates by offset."""
    ctx = _Ctx(model)
    defs = layer_defs(model, ctx)
    n = len(model.layers)
    dims = [layer.out_dim() for layer in model.layers]
    ws_dims = dims + [dims[-1]] + [model.layers[l].in_dim for l in range(n - 1, -1, -1)]
    starts = [sum(ws_dims[:i]) for i in range(len(ws_dims))]

    def view(i):
        """Slot i of the flat workspace: the rows N x ws_dims[i] at offset N * (the slots before it)."""
        lo = f"N * {starts[i]}" if starts[i] else "0"
        return f"ws[{lo}:N * {starts[i] + ws_dims[i]}].reshape((N, {ws_dims[i]}))"
    lines = ["@njit(cache=True)", "def loss_grad(theta, X, Y, grad, ws, gparts, lparts):",
             '    """Loss and its gradient (into grad) for a batch of N rows; ws: a flat workspace of at',
             "    least N * WS_SIZE floats (make_workspace); gparts, lparts: unused (loss_grad_par's form).\"\"\"",
             "    N = X.shape[0]", "    A0 = X"]
    for l, layer in enumerate(model.layers):
        if layer.has_params:      # the blocks the layer's calls read by offset, named
            lines.append("    # " + ", ".join(f"{b.name}{list(b.shape)} = theta[{model.offsets[b.name]}:"
                                             f"{model.offsets[b.name] + b.size}]" for b in layer.blocks()))
        lines.append(f"    A{l + 1} = {view(l)}")
        lines += ["    " + s for s in layer.kernel_forward(ctx, f"A{l}", f"A{l + 1}")]
    lines.append(f"    D{n} = {view(n)}")
    lines.append(f"    loss = {model.loss.kernel(f'A{n}', 'Y', f'D{n}')}")
    first_param = next(i for i, l in enumerate(model.layers) if l.has_params)
    for l in range(n - 1, first_param - 1, -1):
        layer = model.layers[l]
        need = l > first_param
        lines.append(f"    D{l} = {view(n + 1 + (n - 1 - l))}")
        lines += ["    " + s for s in layer.kernel_backward(ctx, f"A{l}", f"D{l + 1}", f"D{l}", need)]
    lines.append("    return loss")
    ws = (f"WS_DIMS = {tuple(ws_dims)!r}\nWS_SIZE = {sum(ws_dims)}   # floats of workspace per row\n\n\n"
          "def make_workspace(N):\n    return np.zeros(N * WS_SIZE)\n")
    return "\n".join(d for d in defs if d) + "\n\n" + "\n".join(lines) + "\n\n\n" + ws + "\n\n" + \
        parallel_code(model)


def sample_separable(model) -> bool:
    """The batch loss is a mean of per-sample terms (the :class:`~noether.model.loss.Loss` contract)
    and no layer couples samples (``batch_coupled``): row chunks of the batch can be evaluated apart."""
    return not any(l.batch_coupled for l in model.layers)   # containers report their inner layers


def parallel_code(model) -> str:
    """``loss_grad_par``: the batch in P row chunks over threads (P = gparts.shape[0]), each chunk's
    mean gradient weighted by N_c/N and summed in chunk order, so the result does not depend on the
    thread schedule.  Each thread evaluates its chunks in its own slot of the workspace
    (``make_workspace_par``: threads x the rows of one chunk), which stays in that core's cache from
    chunk to chunk.  For a batch-coupled model it is the serial ``loss_grad``."""
    slots = ("\n\ndef make_workspace_par(rows, threads):\n"
             '    """Per-thread workspace slots (threads x rows x WS_SIZE floats) for loss_grad_par."""\n'
             "    return np.zeros(threads * rows * WS_SIZE)\n")
    if not sample_separable(model):
        return (f"SAMPLE_PARALLEL = False{slots}\n\n"
                "loss_grad_par = loss_grad   # a layer couples the samples of a batch: serial only\n")
    return f'''SAMPLE_PARALLEL = True{slots}

@njit(cache=True, parallel=True)
def loss_grad_par(theta, X, Y, grad, ws, gparts, lparts):
    """Loss and gradient as loss_grad, the N samples split in P row chunks evaluated in parallel;
    ws from make_workspace_par (a slot per thread of R = ceil(N / P) rows, as run.chunks sizes it)."""
    P = gparts.shape[0]
    N = X.shape[0]
    slot = -(-N // P) * WS_SIZE
    for c in prange(P):
        lo = c * N // P
        hi = (c + 1) * N // P
        t = get_thread_id()
        lparts[c] = loss_grad(theta, X[lo:hi], Y[lo:hi], gparts[c], ws[t * slot:(t + 1) * slot], gparts, lparts)
    L = 0.0
    for r in range(grad.shape[0]):
        grad[r] = 0.0
    for c in range(P):
        w = ((c + 1) * N // P - c * N // P) / N      # exact when N/P is an integer power of two
        L += w * lparts[c]
        for r in range(grad.shape[0]):
            grad[r] += w * gparts[c, r]
    return L
'''


def generator_arrays(gens) -> dict[str, np.ndarray]:
    """CSR-by-generator arrays of explicit generators (data for the Bregman/Noether loops)."""
    gptr, rows, cols, vals, cptr, cidx, cvals = [0], [], [], [], [0], [], []
    for g in gens:
        r, c, v, ci, cv = g.numeric()
        rows += list(r); cols += list(c); vals += list(v); cidx += list(ci); cvals += list(cv)
        gptr.append(len(rows)); cptr.append(len(cidx))
    i64 = lambda a: np.asarray(a, dtype=np.int64)  # noqa: E731
    return {"gptr": i64(gptr), "rows": i64(rows), "cols": i64(cols), "vals": np.asarray(vals, float),
            "cptr": i64(cptr), "cidx": i64(cidx), "cvals": np.asarray(cvals, float)}


def module_source(deriv) -> tuple[str, ChargeLayout]:
    model = deriv.model
    ch, layout = charge_code(deriv)
    # every optimizer, gradient descent included, gets a module of its own with its law and step
    # (rule_module_source), generated when a run asks for it and shared by every model
    parts = [
        f'"""Generated by noether {__version__} for: {model.describe()}\n\n'
        f"Model digest {model.digest}.  Do not edit: regenerate with `noether codegen`.\n"
        f'Charges, in output order:\n' + "".join(f"  {k}: {n}\n" for k, n in enumerate(layout.names[:200]))
        + ("  ...\n" if len(layout.names) > 200 else "") + '"""\n',
        "import math\n\nimport numpy as np\nfrom numba import get_thread_id, njit, prange\n\n"
        "PRIMITIVES_IMPORT\n",
        "# ---- model: activations and the unrolled forward/backward pass ----\n" + model_code(model),
        "# ---- charges, printed from their indexed formulas ----\n" + ch,
    ]
    source = "\n\n".join(parts)
    return source.replace("PRIMITIVES_IMPORT\n", primitives_import(source), 1), layout


def _primitive_names() -> set[str]:
    """Names the hand-written primitive modules define (functions and constants, not their imports)."""
    out = set()
    for name, obj in vars(primitives).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        mod = getattr(getattr(obj, "py_func", obj), "__module__", None)
        if (mod or "").startswith("noether.kernels.primitives") or isinstance(obj, (int, float)):
            out.add(name)
    return out


def primitives_import(source: str) -> str:
    """An explicit import of the primitives ``source`` uses (instead of a star import)."""
    used = sorted(_primitive_names() & set(re.findall(r"\b[A-Za-z_]\w*\b", source)))
    if not used:
        return ""
    body = textwrap.fill(", ".join(used), 100, initial_indent="    ", subsequent_indent="    ")
    return f"from noether.kernels.primitives import (  # hand-written primitives this module calls\n{body},\n)\n"


def write_module(source: str, directory: Path, stem: str) -> Path:
    """Write atomically (temp file + rename) under a content-hash name; reuse if present."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    path = directory / f"{stem}_{digest}.py"
    if path.exists() and path.read_text() == source:
        return path
    atomic_write(path, lambda fh: fh.write(source), field="NOETHER_CACHE")
    return path


def load_generated(path: Path):
    """Import a generated module from its file, once per process (``noether_generated_<stem>`` in
    ``sys.modules``); rule modules load their model module through it."""
    path = Path(path)
    name = f"noether_generated_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """Hash of noether's own source: generated modules are reused only by the same code (read once
    per process: hashing every source file costs about 10 ms, which a run of 400 small steps felt)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(__version__.encode())
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _cached_module(index: Path, make, stem: str, folder: Path) -> tuple[Path, dict]:
    """The path of a generated module and its metadata, from the small ``index`` file written beside
    it when it was first printed, or printed now by ``make() -> (source, meta)``, written under a
    content-hash name and indexed.  The index saves the printing (sympy, about a second for a model),
    not the compile, which numba's own cache saves."""
    if index.exists():
        try:
            meta = json.loads(index.read_text())
            if Path(meta["path"]).exists():
                return Path(meta["path"]), meta
        except (ValueError, KeyError, OSError):
            pass
    source, meta = make()
    path = write_module(source, folder, stem)
    meta = {"path": str(path), **meta}
    atomic_write(index, lambda fh: json.dump(meta, fh), field="NOETHER_CACHE")
    return path, meta


@dataclass
class Kernels:
    """A model's compiled kernels: its module, charge layout and generator arrays, and the modules of
    the optimizer variants runs have asked for (:meth:`rule_module`)."""

    path: Path
    module: object
    layout: ChargeLayout
    generators: dict[str, np.ndarray] | None
    folder: Path | None = None
    _index_key: str = ""

    def rule_module(self, rule, zero: frozenset = frozenset()):
        """The module holding ``rule``'s variant (``lawv_<variant>``, ``step_<variant>``,
        ``LAW_CLOSED_<variant>``, ``LAW_ROWS``), with the hyperparameters named in ``zero`` printed
        as 0: reused from the cache folder (whichever model first asked for it), or printed and
        written now.  ``rule`` must be a registered rule (the caller checks that it is the one the
        kernel is printed from)."""
        folder = self.folder or self.path.parent
        tag = rule.variant + "".join(f"-{n}0" for n in sorted(zero))
        index = folder / f"index_rule_{_code_fingerprint()}_{tag}.json"
        path, _ = _cached_module(index, lambda: (rule_module_source(rule, frozenset(zero)), {}),
                                 f"noether_rule_{rule.variant}", folder)
        return load_generated(path)


def build_kernels(deriv, directory: str | os.PathLike | None = None) -> Kernels:
    """Generate (or reuse) the model's module and import it.

    The module holds the model and GD only; each optimizer variant is printed into a module of its
    own when a run first asks for it (:meth:`Kernels.rule_module`).  Printing costs sympy time, so the
    path and charge layout of a module already written for the same model *and the same noether
    source* are kept in a small index file beside it and reused.
    """
    folder = cache_dir(directory)
    key = f"{deriv.model.digest}_{_code_fingerprint()}"

    def make():
        source, layout = module_source(deriv)
        return source, {"names": layout.names, "families": layout.families}
    path, meta = _cached_module(folder / f"index_{key}.json", make, f"noether_{deriv.model.digest}", folder)
    mod = load_generated(path)
    gens = generator_arrays(deriv.algebra.generators) if deriv.algebra.explicit else None
    return Kernels(path, mod, ChargeLayout(meta["names"], meta["families"]), gens, folder, key)
