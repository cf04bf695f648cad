"""The kernel cache: generated modules written atomically under content-hash names in one folder,
indexed by what they were printed from, and imported once per process.  Numba's compiled code sits
beside them (``cache=True``)."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

from .._version import __version__
from ..io import atomic_write

ENV_CACHE = "NOETHER_CACHE"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """``override`` > $NOETHER_CACHE > ~/.cache/noether."""
    p = Path(override or os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "noether")
    p.mkdir(parents=True, exist_ok=True)
    return p


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
    ``sys.modules``)."""
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
def code_fingerprint() -> str:
    """Hash of noether's own source: generated modules are reused only by the same code (read once
    per process: hashing every source file costs about 10 ms, which a run of 400 small steps felt)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(__version__.encode())
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def cached_module(index: Path, make, stem: str, folder: Path) -> tuple[Path, dict]:
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
