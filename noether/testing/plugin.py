"""pytest plugin (entry point ``pytest11``): fixtures and a hypothesis profile for JIT code.

Profile ``noether``: no deadline (the first call of a numba kernel compiles, seconds, not a
test failure), the too-slow / large-data health checks off (model draws are legitimately slow
to derive), and ``derandomize=True`` when the ``CI`` environment variable is set, so CI runs are
reproducible.  It is loaded unless the user chose a profile (``--hypothesis-profile`` or
``HYPOTHESIS_PROFILE``) or disabled it with ``-p no:noether``.

Fixtures: ``noether_rng`` (a numpy Generator seeded from the test's node id), ``noether_cache``
(a per-session kernel cache folder, exported as ``$NOETHER_CACHE``), ``noether_model`` (build a
Model from a spec path, TOML text or dict), ``noether_derive`` (cached derivation).
"""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import HealthCheck, settings
from ..model import Model
from .assertions import derivation_of
import numpy as np
from pathlib import Path

PROFILE = "noether"


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def register_profiles() -> None:
    common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                  print_blob=True)
    settings.register_profile(PROFILE, derandomize=_ci(), **common)
    settings.register_profile(PROFILE + "-ci", derandomize=True, database=None, **common)


register_profiles()


def pytest_configure(config):
    chosen = None
    try:
        chosen = config.getoption("hypothesis_profile")
    except (ValueError, AttributeError):
        pass
    if chosen is None and not os.environ.get("HYPOTHESIS_PROFILE"):
        settings.load_profile(PROFILE + "-ci" if _ci() else PROFILE)


def pytest_report_header(config):
    name = getattr(settings, "_current_profile", None)
    return f"noether: hypothesis profile {name!r}" if name else None


@pytest.fixture
def noether_rng(request):
    """numpy Generator seeded from the test's node id (reproducible per test, distinct across tests)."""
    digest = hashlib.sha256(request.node.nodeid.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@pytest.fixture(scope="session")
def noether_cache(tmp_path_factory):
    """A kernel cache folder for the session, exported as $NOETHER_CACHE."""
    path = tmp_path_factory.mktemp("noether_cache")
    old = os.environ.get("NOETHER_CACHE")
    os.environ["NOETHER_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("NOETHER_CACHE", None)
    else:
        os.environ["NOETHER_CACHE"] = old


@pytest.fixture
def noether_model():
    """``noether_model(spec)``: a Model from a path, TOML text or a spec dict."""


    def make(spec, name: str = "model"):
        if isinstance(spec, dict):
            return Model.from_dict(spec, name)
        if isinstance(spec, Path) or (isinstance(spec, str) and spec.endswith(".toml") and "\n" not in spec):
            return Model.load(spec)
        return Model.from_toml(spec, name)
    return make


@pytest.fixture
def noether_derive():
    """``noether_derive(model)``: ``noether.derive.derive`` cached per model spec."""
    return derivation_of
