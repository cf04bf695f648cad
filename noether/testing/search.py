"""Run a property under hypothesis and return the shrunk counterexample as a :class:`ClaimFailure`.

Hypothesis replays the minimal failing example last, so the last failure recorded is the shrunk
one.  Used by ``noether claim`` and handy in notebooks (outside pytest).
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed
from hypothesis import strategies as st

from .assertions import ClaimFailure


def find_counterexample(prop, *strategies, examples: int = 100, seed: int = 0, **kw_strategies):
    """``prop(*drawn)`` raises :class:`ClaimFailure` when the claim fails; returns the shrunk
    failure, or None if ``examples`` examples found none."""
    failures: list[ClaimFailure] = []

    @hyp_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, print_blob=False,
              suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate, Phase.shrink))
    @given(st.tuples(st.tuples(*strategies), st.fixed_dictionaries(kw_strategies)))
    def run(drawn):
        args, kwargs = drawn
        try:
            with np.errstate(all="ignore"):
                prop(*args, **kwargs)
        except ClaimFailure as exc:
            failures.append(exc)
            raise

    try:
        run()
    except ClaimFailure:
        return failures[-1]
    return None
