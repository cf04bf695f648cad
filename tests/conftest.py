import os
import tempfile

# Generated kernels go to a per-session folder unless the caller chose one (CI does).
os.environ.setdefault("NOETHER_CACHE", tempfile.mkdtemp(prefix="noether_test_cache_"))
