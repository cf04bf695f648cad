import os
import tempfile

# Generated kernels go to a per-session folder unless the caller chose one (CI does).
os.environ.setdefault("NOETHER_CACHE", tempfile.mkdtemp(prefix="noether_test_cache_"))

import pytest  # noqa: E402

# the shared assertion helpers report their operands like test-module asserts do
pytest.register_assert_rewrite("helpers")
