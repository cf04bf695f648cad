"""Report statuses: a law checked, a law failed, a check that covered too little, a measurement."""

from noether.report import Report
from noether.verify import TOL_BREGMAN, flow_tolerance


def test_a_check_that_covered_less_than_half_is_partial_not_ok():
    rep = Report("m", info={"algebra_dim": 1})
    rep.add("C", "gf", 1e-12, 1e-8, "F", "dC/dt = 0", covered=0.89 / 5)
    assert rep.checks[0].status == "partial"
    assert rep.ok                                   # nothing failed ...
    assert "partial coverage" in rep.verdict        # ... but the verdict says how little was covered
    assert "18%" in rep.table() and "partial" in rep.table()


def test_measurements_are_neither_passed_nor_failed():
    rep = Report("m", info={"algebra_dim": 1, "no_law_reason": "adam: kinetic symmetry breaking"})
    rep.measure("C", "adam:drift", 0.4, "F")
    assert rep.checks[0].ok is None and rep.checks[0].tolerance is None
    assert rep.laws == [] and rep.ok and rep.verdict.startswith("no law is claimed")


def test_empty_report_is_success_only_for_a_trivial_algebra():
    assert Report("m", info={"algebra_dim": 0}).ok
    assert not Report("m", info={"algebra_dim": 3}).ok   # charges exist but nothing was checked
    rep = Report("m", info={"algebra_dim": 2})
    rep.add("C", "gd", 2e-10, 1e-10)
    assert not rep.ok and rep.verdict == "SOME LAWS FAILED"


def test_flow_tolerance_grows_like_the_rms_error_norm():
    # small models keep the old tolerance; a 1.2M-component Bregman state gets sqrt(N)/10 of it
    assert flow_tolerance(TOL_BREGMAN, 60) == TOL_BREGMAN
    assert flow_tolerance(TOL_BREGMAN, 100) == TOL_BREGMAN
    big = flow_tolerance(TOL_BREGMAN, 1_200_000)
    assert abs(big - TOL_BREGMAN * 1_200_000 ** 0.5 / 10) < 1e-20 and big > 4e-7   # measured 4e-7 at width 1e5
