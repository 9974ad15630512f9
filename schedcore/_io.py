"""Small shared helpers for files and array inputs (private to schedcore)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

__all__ = ["atomic_write", "to_numpy"]


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], mode: str = "w") -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it over ``path``.

    Readers see either the old file or the complete new one, never a half-written file;
    if ``write`` raises, ``path`` is left untouched and the temporary file is removed.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = atomic_write(d / "a.txt", lambda f: f.write("hi"))
    >>> (d / "a.txt").read_text()
    'hi'
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        newline = "" if "b" not in mode else None
        with os.fdopen(fd, mode, newline=newline) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def to_numpy(x, dtype=np.float64) -> np.ndarray:
    """Convert a list, numpy array, ``__array__`` object or torch tensor (any device) to numpy.

    Torch is never imported: a tensor is recognised by its ``detach``/``cpu``/``numpy`` methods.

    >>> to_numpy([1, 2]).tolist()
    [1.0, 2.0]
    """
    if hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)
