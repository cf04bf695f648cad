"""Laws checked against runs: residuals, tolerances, pass/fail (the data every composer fills)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class LawCheck:
    charge: str
    check: str            # gf | gd | bregman
    max_residual: float
    tolerance: float
    ok: bool
    family: str = ""
    law: str = ""


@dataclass
class Report:
    model: str
    checks: list[LawCheck] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    diverged_at: int | None = None

    @property
    def ok(self) -> bool:
        """Every law held, and there was at least one to check (an empty run verifies nothing)."""
        return self.diverged_at is None and bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def verdict(self) -> str:
        if not self.checks:
            return "no laws were checked: the derivation gave no explicit charges (see its notes)"
        return "all laws hold" if self.ok else "SOME LAWS FAILED"

    def add(self, charge, check, resid, tol, family="", law=""):
        r = float(resid)
        self.checks.append(LawCheck(charge, check, r, tol, bool(np.isfinite(r) and r <= tol), family, law))

    def to_json(self) -> dict:
        return {"ok": self.ok, "model": self.model, "diverged_at": self.diverged_at,
                "laws": [asdict(c) for c in self.checks], **self.info}

    def table(self, max_rows: int = 40) -> str:
        """One row per (check, family): the worst instance, so wide layers stay readable."""
        groups: dict = {}
        for c in self.checks:
            key = (c.check, c.family or c.charge)
            g = groups.setdefault(key, {"n": 0, "worst": c, "ok": True})
            g["n"] += 1
            g["ok"] &= c.ok
            if not (c.max_residual <= g["worst"].max_residual):
                g["worst"] = c
        rows = [f"{'check':8s} {'law / family':34s} {'n':>5s} {'max residual':>13s} {'tolerance':>10s}  result"]
        for (check, fam), g in list(groups.items())[:max_rows]:
            w = g["worst"]
            rows.append(f"{check:8s} {fam[:34]:34s} {g['n']:5d} {w.max_residual:13.3e} {w.tolerance:10.1e}  "
                        + ("ok" if g["ok"] else "FAIL"))
        if len(groups) > max_rows:
            rows.append(f"... {len(groups) - max_rows} more groups (see --json)")
        return "\n".join(rows)
