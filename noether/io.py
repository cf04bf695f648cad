"""The one atomic write: a temporary file in the target's folder, then ``os.replace``.

A reader never sees a half-written file, and an error leaves the old file (or none) in place.
"""

from __future__ import annotations

import os
import tempfile

from .errors import SpecError
import numpy as np


def atomic_write(path: str | os.PathLike, write, mode: str = "w", field: str = "output") -> None:
    """Call ``write(fh)`` on a temporary file opened with ``mode`` next to ``path``, then rename it
    to ``path``.  A missing folder is a :class:`SpecError` on ``field``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        raise SpecError(field, f"folder {directory!r} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp_", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": ""})) as fh:
            write(fh)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_npz_atomic(path: str, field: str = "--trajectory", **arrays) -> None:
    """Write an .npz atomically (trajectory and parameter files); ``field`` names the option."""
    atomic_write(path, lambda fh: np.savez(fh, **arrays), mode="wb", field=field)
