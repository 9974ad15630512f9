"""Small shared helpers for files and array inputs (private to schedcore).

Writing: :func:`atomic_write` (temp file + rename; recognisable temp names, stale ones removed
on the next write to the folder; new files follow the umask, overwritten files keep their mode).
Reading: :func:`open_regular` (regular files only: a FIFO or a device is refused without
blocking), :func:`read_text` (size checked, UTF-8 with or without a BOM), :func:`read_npz`
(every member's size checked against the memory available *before* anything is decompressed).
"""

from __future__ import annotations

import math
import os
import re
import secrets
import stat
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

__all__ = ["atomic_write", "to_numpy", "open_regular", "read_text", "read_npz", "check_fits", "human_bytes"]

# Temp files: ``.<name>.<pid>.<random>.schedcore-tmp`` beside the target.
_TMP_SUFFIX = ".schedcore-tmp"
_TMP_RE = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{16}" + re.escape(_TMP_SUFFIX) + "$")
# A temp file whose writer process is gone is stale; so is any one older than this (a writer
# on another machine sharing the folder, or a recycled pid).
_STALE_AFTER_S = 24 * 3600.0


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], mode: str = "w") -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it over ``path``.

    Readers see either the old file or the complete new one, never a half-written file. If
    ``write`` (or anything else) raises, ``path`` is left untouched and the temporary file is
    removed. Temporary files are named ``.<name>.<pid>.<random>.schedcore-tmp``; those left by a
    killed writer (its process gone, or older than a day) are removed on the next write to
    the same folder. A new file gets the usual ``0o666 & ~umask`` mode; an overwritten file
    keeps its mode.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = atomic_write(d / "a.txt", lambda f: f.write("hi"))
    >>> (d / "a.txt").read_text()
    'hi'
    """
    path = Path(path)
    directory = path.parent  # Path("t.csv").parent is Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(directory)
    try:
        keep_mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        keep_mode = None
    tmp = directory / f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}{_TMP_SUFFIX}"
    # O_EXCL: never follow or reuse someone else's file; 0o666 lets the umask decide the mode.
    # (os.open's descriptors are never inherited by child processes: no O_CLOEXEC needed, PEP 446.)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        if keep_mode is not None:
            os.chmod(fd if os.chmod in os.supports_fd else tmp, keep_mode)
        newline = "" if "b" not in mode else None
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, newline=newline, encoding=encoding) as f:
            fd = -1  # owned by ``f`` now
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd != -1:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _remove_stale_temps(directory: Path) -> None:
    """Remove our temp files in ``directory`` whose writer is gone (best effort, never raises)."""
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        m = _TMP_RE.match(entry.name)
        if not m:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and (not _alive(int(m.group(1))) or now - st.st_mtime > _STALE_AFTER_S):
                os.unlink(entry.path)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be writing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (owned by someone else), or cannot tell: keep it
    return True


# ------------------------------------------------------------------------------------ reading


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file, else ``ValueError``.

    The file is opened non-blocking and checked with ``fstat``, so a FIFO or a device
    (``/dev/zero``) is refused at once instead of blocking or reading forever.

    >>> open_regular("/dev/null")
    Traceback (most recent call last):
    ...
    ValueError: /dev/null: not a regular file (a character device)
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)  # not inherited either way (PEP 446)
    fd = os.open(path, flags)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ValueError(f"{os.fspath(path)}: not a regular file ({_kind(st.st_mode)})")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):  # fmt: skip
        if test(mode):
            return name
    return "not a plain file"


def human_bytes(n: float) -> str:
    """``n`` bytes in a unit people read.

    >>> human_bytes(3.2e9), human_bytes(512)
    ('3.0 GiB', '512 B')
    """
    n = float(min(n, 10**300))  # a Python int may be beyond the float range
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def memory_available() -> int | None:
    """Bytes of memory available to this process now (Linux ``MemAvailable``), None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


#: Sizes below this are not checked against the memory available (every machine has it).
_ALWAYS_FITS = 16 * 2**20


def check_fits(nbytes: float, what: str) -> None:
    """Raise ``ValueError`` up front when ``what`` would need more memory than is available.

    >>> check_fits(1e30, "a table of 1e29 steps")
    Traceback (most recent call last):
    ...
    ValueError: a table of 1e29 steps would need ... PiB of memory; ... available
    """
    if nbytes < _ALWAYS_FITS:  # not worth reading /proc/meminfo (a per-fit cost) for
        return
    available = memory_available()
    if available is not None and nbytes > available:  # nbytes may be an int of any size
        raise ValueError(f"{what} would need {human_bytes(nbytes)} of memory; {human_bytes(available)} available")


# Parsing text (csv rows as Python strings and lists) needs several times the file's size.
_TEXT_EXPANSION = 8


def read_text(path: str | os.PathLike) -> str:
    """The text of a regular UTF-8 file (a byte-order mark is dropped), size checked first."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        check_fits(size * _TEXT_EXPANSION, f"reading {os.fspath(path)} ({human_bytes(size)})")
        data = f.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text ({e})") from None


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (plain or compressed), without pickles or zip bombs.

    Every member's ``.npy`` header is read first: its shape and dtype must account exactly for
    the member's declared size, and the sizes together must fit in the memory available --
    all before anything is decompressed. Object arrays are refused. Raises ``ValueError``.
    """
    with open_regular(path) as f:
        try:
            with zipfile.ZipFile(f) as z:
                infos = z.infolist()
                total = sum(i.file_size for i in infos)
                check_fits(total, f"decompressing {os.fspath(path)} ({human_bytes(total)} uncompressed)")
                return dict(_npz_member(z, info) for info in infos)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError) as e:
            raise ValueError(f"not a readable .npz file ({e})") from None


def _npz_member(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, np.ndarray]:
    name = info.filename
    if not name.endswith(".npy"):
        raise ValueError(f"not a readable .npz file (member {name!r} is not a .npy array)")
    with z.open(info) as m:  # read straight from the member: nothing past the header before the checks
        try:
            version = np.lib.format.read_magic(m)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(m)
        except ValueError as e:
            raise ValueError(f"not a readable .npz file (member {name!r}: {e})") from None
        if dtype.hasobject:
            raise ValueError(f"member {name!r} holds Python objects; only numeric and text arrays are read")
        offset = m.tell()
        nbytes = math.prod(shape) * dtype.itemsize
        if offset + nbytes != info.file_size:
            raise ValueError(
                f"member {name!r}: its header says shape {shape} of {dtype} ({nbytes} bytes) "
                f"but it holds {info.file_size - offset} bytes"
            )
        data = m.read()
    if len(data) != nbytes:
        raise ValueError(f"member {name!r} is truncated")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return name[: -len(".npy")], array.copy()


def to_numpy(x, dtype=np.float64) -> np.ndarray:
    """Convert a list, numpy array, ``__array__`` object or torch tensor (any device) to numpy.

    Torch is never imported: a tensor is recognised by its ``detach``/``cpu``/``numpy`` methods.

    >>> to_numpy([1, 2]).tolist()
    [1.0, 2.0]
    """
    if hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)
