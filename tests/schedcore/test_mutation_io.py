"""schedcore._io exactly (issue 14): where temp files go and what they are called, which stale
ones are removed, the file descriptors' fate on errors, UTF-8 whatever the locale, memory checks
at their boundary, and .npz members of every layout (v2 headers, Fortran order, > 64 KiB)."""

import io
import os
import re
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from schedcore import _io
from schedcore._io import (
    atomic_write,
    check_fits,
    human_bytes,
    memory_available,
    open_regular,
    read_npz,
    read_text,
    to_numpy,
)

HEX = "0123456789abcdef"


def _temp_name(target, pid, hexpart=HEX):
    return f".{target}.{pid}.{hexpart}.schedcore-tmp"


# ------------------------------------------------------------------------------ atomic_write


def test_temp_file_beside_the_target_with_a_recognisable_name(tmp_path, monkeypatch):
    """The temp file is ``.<name>.<pid>.<16 hex>.schedcore-tmp`` in the target's own folder, even
    for a relative path and a folder that does not exist yet."""
    monkeypatch.chdir(tmp_path)
    seen = []

    def write(f):
        seen.append([p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()])
        f.write("é\n")

    assert atomic_write("a/b/t.csv", write) == (tmp_path / "a/b/t.csv").relative_to(tmp_path)
    (name,) = seen[0]
    assert re.fullmatch(rf"a/b/\.t\.csv\.{os.getpid()}\.[0-9a-f]{{16}}\.schedcore-tmp", name), name
    assert (tmp_path / "a/b/t.csv").read_bytes() == "é\n".encode()
    atomic_write("t.csv", lambda f: f.write("x\r\ny\n"))  # a bare name: the current folder; no newline translation
    assert (tmp_path / "t.csv").read_bytes() == b"x\r\ny\n" and sorted(os.listdir(tmp_path)) == ["a", "t.csv"]
    atomic_write("a/b/t.csv", lambda f: f.write(b"\x00\xff"), mode="wb")  # the folder exists already
    assert (tmp_path / "a/b/t.csv").read_bytes() == b"\x00\xff"


def test_text_is_utf8_whatever_the_locale(tmp_path, monkeypatch):
    """A machine whose default encoding is Latin-1 still writes UTF-8."""
    fdopen = os.fdopen

    def latin1_default(fd, mode="r", **kw):
        if "b" not in mode and kw.get("encoding") is None:
            kw["encoding"] = "latin-1"
        return fdopen(fd, mode, **kw)

    monkeypatch.setattr(_io.os, "fdopen", latin1_default)
    atomic_write(tmp_path / "t.txt", lambda f: f.write("ångström"))
    assert (tmp_path / "t.txt").read_bytes() == "ångström".encode()


def test_an_existing_temp_name_is_never_reused(tmp_path, monkeypatch):
    """O_EXCL: a file already at the temp name (a symlink planted there, say) is never written through."""
    monkeypatch.setattr(_io.secrets, "token_hex", lambda n: HEX[: 2 * n])
    squatter = tmp_path / _temp_name("t.csv", os.getpid())  # our own pid: not stale
    squatter.write_text("theirs")
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path / "t.csv", lambda f: f.write("ours"))
    assert squatter.read_text() == "theirs" and not (tmp_path / "t.csv").exists()


def test_descriptors_closed_exactly_once_on_errors(tmp_path, monkeypatch):
    closed = []
    close = os.close
    monkeypatch.setattr(_io.os, "close", lambda fd: (closed.append(fd), close(fd)))
    with pytest.raises(RuntimeError, match="disk full"):  # the file object owns the descriptor: no os.close
        atomic_write(tmp_path / "t.csv", lambda f: (_ for _ in ()).throw(RuntimeError("disk full")))
    assert closed == [] and os.listdir(tmp_path) == []
    (tmp_path / "t.csv").write_text("old")
    opened = []
    real_open = os.open
    monkeypatch.setattr(_io.os, "open", lambda *a: opened.append(real_open(*a)) or opened[-1])
    monkeypatch.setattr(_io.os, "chmod", lambda *a: (_ for _ in ()).throw(PermissionError("no chmod")))
    with pytest.raises(PermissionError, match="no chmod"):  # fails before the file object exists
        atomic_write(tmp_path / "t.csv", lambda f: f.write("new"))
    assert closed == opened and len(opened) == 1
    assert os.listdir(tmp_path) == ["t.csv"] and (tmp_path / "t.csv").read_text() == "old"


# -------------------------------------------------------------------------------- stale temps


def test_which_temps_are_stale(tmp_path, monkeypatch):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        now = 1_800_000_000.0
        monkeypatch.setattr(_io.time, "time", lambda: now)
        day = 24 * 3600
        files = {  # name -> (mtime, removed?)
            _temp_name("a", dead.pid): (now, True),  # writer gone
            _temp_name("b", live.pid): (now, False),  # writer running
            _temp_name("c", live.pid, "fedcba9876543210"): (now - day, False),  # exactly a day old: not yet
            _temp_name("d", live.pid, "0000000000000000"): (now - day - 1, True),  # older than a day
            _temp_name("e", os.getpid()): (now, False),  # this process (another thread may be writing)
            _temp_name("f", 10**30): (now, False),  # a pid os.kill cannot take: cannot tell, kept
            f".g.{dead.pid}.{HEX}0.schedcore-tmp": (now, False),  # not our name (17 hex digits)
            f"0.h.{dead.pid}.{HEX}.schedcore-tmp": (now, False),  # not hidden: not ours
        }
        for name, (mtime, _) in files.items():
            (tmp_path / name).write_text("x")
            os.utime(tmp_path / name, (mtime, mtime))
        link = tmp_path / _temp_name("i", dead.pid)
        link.symlink_to(tmp_path / _temp_name("b", live.pid))  # a symlink is never ours
        fifo = tmp_path / _temp_name("j", dead.pid)
        os.mkfifo(fifo)
        scandir = os.scandir  # the names that are not ours first: they must not stop the scan
        monkeypatch.setattr(_io.os, "scandir", lambda d: sorted(scandir(d), key=lambda e: e.name.startswith(".")))
        atomic_write(tmp_path / "t.csv", lambda f: f.write("x"))
        left = set(os.listdir(tmp_path))
        assert {n for n, (_, gone) in files.items() if not gone} | {link.name, fifo.name, "t.csv"} == left
        assert live.poll() is None  # asking whether it is alive did not signal it
    finally:
        live.kill()
        live.wait()


# ----------------------------------------------------------------------------------- reading


def test_open_regular(tmp_path):
    (tmp_path / "t.csv").write_bytes(b"abc")
    with open_regular(tmp_path / "t.csv") as f:
        assert os.get_blocking(f.fileno()) and f.read() == b"abc" and f.mode == "rb"
    with pytest.raises(ValueError, match=rf"^{re.escape(str(tmp_path))}: not a regular file \(a directory\)$"):
        open_regular(tmp_path)
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "none.csv")


@pytest.mark.parametrize("kind, name", [
    (stat.S_IFDIR, "a directory"), (stat.S_IFIFO, "a FIFO"), (stat.S_IFCHR, "a character device"),
    (stat.S_IFBLK, "a block device"), (stat.S_IFSOCK, "a socket"), (stat.S_IFLNK, "not a plain file"),
])  # fmt: skip
def test_kind_names(kind, name):
    assert _io._kind(kind | 0o644) == name


@pytest.mark.parametrize("n, text", [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1025, "1.0 KiB"), (1536, "1.5 KiB"),
    (1024**2 - 1, "1024.0 KiB"), (1024**2, "1.0 MiB"), (3.2e9, "3.0 GiB"), (1024**4, "1.0 TiB"),
    (1024**5, "1.0 PiB"), (1024**6, "1024.0 PiB"), (10**400, f"{1e300 / 1024**5:.1f} PiB"),
])  # fmt: skip
def test_human_bytes(n, text):
    assert human_bytes(n) == text


def test_memory_available_from_meminfo_else_sysconf(monkeypatch):
    meminfo = "MemTotal:       4096 kB\nMemFree:         100 kB\nMemAvailable:    2048 kB\n"

    def fake_open(path, *a, **k):
        if path == "/proc/meminfo" and meminfo is not None:
            return io.StringIO(meminfo)
        raise FileNotFoundError(path)

    confs = {"SC_AVPHYS_PAGES": 3, "SC_PAGE_SIZE": 4096}

    def fake_sysconf(name):
        if name not in confs:
            raise ValueError(f"unrecognized configuration name {name!r}")
        return confs[name]

    monkeypatch.setattr(_io, "open", fake_open, raising=False)
    monkeypatch.setattr(_io.os, "sysconf", fake_sysconf)
    assert memory_available() == 2048 * 1024
    meminfo = "MemTotal:       4096 kB\n"  # no MemAvailable line (old kernels)
    assert memory_available() == 3 * 4096
    meminfo = "MemAvailable: lots kB\n"
    assert memory_available() == 3 * 4096
    meminfo = None
    assert memory_available() == 3 * 4096
    confs.clear()
    assert memory_available() is None


def test_check_fits_at_the_boundary(monkeypatch):
    monkeypatch.setattr(_io, "_ALWAYS_FITS", 0)  # check every size: the sizes here are small
    monkeypatch.setattr(_io, "memory_available", lambda: 1000)
    check_fits(1000, "x")
    with pytest.raises(ValueError, match=r"^x would need 1001 B of memory; 1000 B available$"):
        check_fits(1001, "x")
    monkeypatch.setattr(_io, "memory_available", lambda: None)
    check_fits(10**400, "x")  # unknown: nothing refused


def test_read_text_checks_eight_times_the_size(tmp_path, monkeypatch):
    monkeypatch.setattr(_io, "_ALWAYS_FITS", 0)  # check every size: the sizes here are small
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "é".encode() * 48 + b"\n")  # a BOM, 48 two-byte characters, a newline
    assert path.stat().st_size == 100
    monkeypatch.setattr(_io, "memory_available", lambda: 800)
    assert read_text(path) == "é" * 48 + "\n"
    monkeypatch.setattr(_io, "memory_available", lambda: 799)
    with pytest.raises(ValueError, match=rf"^reading {re.escape(str(path))} \(100 B\) would need 800 B of memory; 799 B available$"):
        read_text(path)


# ------------------------------------------------------------------------------------- .npz


def _npz(path, members):
    """Write a zip of raw ``name -> bytes`` members."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _npy(a, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, version=version)
    return buf.getvalue()


def test_npz_members_of_every_layout(tmp_path):
    c = np.arange(12.0).reshape(3, 4)
    f = np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3))
    big = np.linspace(0, 1, 20_000)  # 160 kB: beyond the 64 KiB first read
    u8 = np.arange(5, dtype=np.uint8)
    path = _npz(tmp_path / "a.npz", {"c.npy": _npy(c), "f.npy": _npy(f), "v2.npy": _npy(c.astype(np.float32), (2, 0)),
                                      "big.npy": _npy(big), "u8.npy": _npy(u8)})  # fmt: skip
    got = read_npz(path)
    assert list(got) == ["c", "f", "v2", "big", "u8"]
    for k, want in {"c": c, "f": f, "v2": c.astype(np.float32), "big": big, "u8": u8}.items():
        assert got[k].dtype == want.dtype and got[k].shape == want.shape, k
        np.testing.assert_array_equal(got[k], want)
        assert got[k].flags.writeable


def test_npz_member_checks(tmp_path):
    with pytest.raises(ValueError, match=r"^not a readable .npz file \(member 'x.txt' is not a .npy array\)$"):
        read_npz(_npz(tmp_path / "a.npz", {"x.txt": b"hello"}))
    with pytest.raises(ValueError, match=r"^not a readable .npz file \(member 'x.npy': "):
        read_npz(_npz(tmp_path / "b.npz", {"x.npy": b"\x93NUMPX" + bytes(10)}))
    with pytest.raises(ValueError, match=r"^member 'o.npy' holds Python objects"):
        read_npz(_npz(tmp_path / "c.npz", {"o.npy": _npy(np.array([None, 1], dtype=object))}))
    with pytest.raises(ValueError, match=r"^not a readable .npz file \("):
        (tmp_path / "d.npz").write_bytes(b"PK\x03\x04junk")
        read_npz(tmp_path / "d.npz")


def test_npz_header_checked_before_reading_the_data(tmp_path, monkeypatch):
    """A member whose header disagrees with its size is refused having read only its header."""
    header = _npy(np.zeros(10))[:-80]  # a header for 10 float64, then 500 kB instead of 80 B
    path = _npz(tmp_path / "a.npz", {"x.npy": header + bytes(500_000)})
    sizes = []
    read = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda self, n=-1: (sizes.append(n), read(self, n))[1])
    with pytest.raises(ValueError, match=r"^member 'x.npy': its header says shape \(10,\) of float64 \(80 bytes\) but it holds 500000 bytes$"):
        read_npz(path)
    assert sum(sizes) == len(header) and -1 not in sizes  # the header, read in parts, and no byte more


def test_to_numpy():
    class Tensor:
        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return np.array([1, 2], dtype=np.int64)

    class Half:  # a tensor's names in part, and __array__: an array-like, not a tensor
        def __init__(self, *names):
            for n in names:
                setattr(self, n, None)

        def __array__(self, dtype=None, copy=None):
            return np.array([3, 4], dtype=dtype)

    for x, want in ((Tensor(), [1.0, 2.0]), ([5, 6], [5.0, 6.0]), (Half("detach", "cpu"), [3.0, 4.0]),
                    (Half("cpu", "numpy"), [3.0, 4.0]), (Half("detach", "numpy"), [3.0, 4.0])):  # fmt: skip
        a = to_numpy(x)
        assert a.dtype == np.float64 and a.tolist() == want
    assert to_numpy([1, 2], np.float32).dtype == np.float32



def test_small_sizes_are_not_checked_against_memory(monkeypatch):
    """Below 16 MiB check_fits does not read the memory figure (schedule_table calls it every fit)."""
    reads = []
    monkeypatch.setattr(_io, "memory_available", lambda: reads.append(1) or 0)
    check_fits(16 * 2**20 - 1, "x")
    assert reads == []
    with pytest.raises(ValueError, match=r"^x would need 16.0 MiB of memory; 0 B available$"):
        check_fits(16 * 2**20, "x")
    assert reads == [1]
