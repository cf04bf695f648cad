"""The charges part of a generated module: one loop per distinct charge-family code (printed from
its indexed formula), with its quadratic and linear parts and rounding scale, explicit charges as
printed sums or coefficient arrays, and ``charges``, ``charges_quad``, ``charges_lin``,
``charges_abs`` calling them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from ..derive.charges import i_, j_
from .gramform import gram_function
from .printer import explicit_function, family_function, split_degrees


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
