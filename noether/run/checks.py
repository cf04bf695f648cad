"""Laws checked against runs: residuals, tolerances, statuses, tables, JSON (the data every composer
fills; :mod:`noether.report` re-exports it for the rendering layer)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


#: A check that covered less than this fraction of its requested interval is reported as partial.
PARTIAL_BELOW = 0.5


@dataclass
class LawCheck:
    charge: str
    check: str            # gf | gd | bregman | <optimizer> | <optimizer>:P | <optimizer>:drift
    max_residual: float
    tolerance: float | None   # None for a measurement: no law is claimed, so nothing can pass
    ok: bool | None           # None for a measurement
    family: str = ""
    law: str = ""
    covered: float = 1.0      # fraction of the requested interval (flows) that was actually checked
    status: str = ""          # ok | FAIL | partial | measured

    def __post_init__(self):
        if not self.status:
            if self.ok is None:
                self.status = "measured"
            elif not self.ok:
                self.status = "FAIL"
            else:
                self.status = "partial" if self.covered < PARTIAL_BELOW else "ok"


@dataclass
class Report:
    model: str
    checks: list[LawCheck] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    diverged_at: int | None = None

    @property
    def laws(self) -> list[LawCheck]:
        """The checks that claim a law (measurements excluded)."""
        return [c for c in self.checks if c.ok is not None]

    @property
    def trivial(self) -> bool:
        """The derivation found no continuous symmetry: there is nothing to check, by design."""
        return self.info.get("algebra_dim") == 0

    @property
    def ok(self) -> bool:
        """No law failed, and something was checked or measured, or there was nothing to check
        because the algebra is trivial.  Charges that exist but were not checked are not success."""
        if self.diverged_at is not None or any(c.ok is False for c in self.checks):
            return False
        return bool(self.checks) or self.trivial

    @property
    def verdict(self) -> str:
        if not self.checks:
            if self.trivial:
                return "nothing to check: the model's continuous symmetry algebra is trivial (no charges, no laws)"
            return "no laws were checked: the derivation gave no explicit charges (see its notes)"
        if not self.ok:
            return "SOME LAWS FAILED"
        laws, measured = self.laws, len(self.checks) - len(self.laws)
        if not laws:
            return (f"no law is claimed: {measured} quantities measured (drift), "
                    + (self.info.get("no_law_reason") or "no closed law for this run"))
        partial = sorted({c.check for c in laws if c.status == "partial"})
        out = f"all laws hold ({len(laws)} checked)"
        if measured:
            out += f"; {measured} quantities measured, not checked"
        if partial:
            out += ("; partial coverage (less than half of the interval checked): " + ", ".join(partial)
                    + " - see the 'covered' column")
        return out

    def add(self, charge, check, resid, tol, family="", law="", covered=1.0):
        r = float(resid)
        self.checks.append(LawCheck(charge, check, r, tol, bool(np.isfinite(r) and r <= tol), family, law,
                                    float(covered)))

    def measure(self, charge, check, value, family="", law=""):
        """A measured quantity (e.g. Adam's drift of a charge): reported, never passed or failed."""
        self.checks.append(LawCheck(charge, check, float(value), None, None, family, law))

    def to_json(self) -> dict:
        return {"ok": self.ok, "verdict": self.verdict, "model": self.model, "diverged_at": self.diverged_at,
                "laws": [asdict(c) for c in self.checks], **self.info}

    def table(self, max_rows: int = 40) -> str:
        """One row per (check, family): the worst instance, so wide layers stay readable."""
        groups: dict = {}
        for c in self.checks:
            key = (c.check, c.family or c.charge)
            g = groups.setdefault(key, {"n": 0, "worst": c, "status": set(), "covered": 1.0})
            g["n"] += 1
            g["status"].add(c.status)
            g["covered"] = min(g["covered"], c.covered)
            if not (c.max_residual <= g["worst"].max_residual):
                g["worst"] = c
        rows = [f"{'check':8s} {'law / family':34s} {'n':>5s} {'max residual':>13s} {'tolerance':>10s} "
                f"{'covered':>8s}  result"]
        for (check, fam), g in list(groups.items())[:max_rows]:
            w = g["worst"]
            tol = "-" if w.tolerance is None else f"{w.tolerance:.1e}"
            status = next(s for s in ("FAIL", "partial", "measured", "ok") if s in g["status"])
            rows.append(f"{check:8s} {fam[:34]:34s} {g['n']:5d} {w.max_residual:13.3e} {tol:>10s} "
                        f"{g['covered']:8.0%}  {status}")
        if len(groups) > max_rows:
            rows.append(f"... {len(groups) - max_rows} more groups (see --json)")
        return "\n".join(rows)
