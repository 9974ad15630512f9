"""Table and curve files: plain readers, truncation, old files, limits, atomic writes (issues 11, 13)."""

import csv
import io
import json
import os
import stat
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest

from schedcore import (
    LossCurve,
    SchedLin,
    _io,
    load_curve,
    load_table,
    one_cycle,
    save_curve,
    save_table,
    schedule_table,
)
from schedcore._io import atomic_write
from schedcore.tables import ScheduleTable

# ------------------------------------------------------------------------------ table shapes

EXTREMES = [0.1, 1 / 3, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1e-300, 123456789.123456789]


def _table(shape: str) -> ScheduleTable:
    """Tables of every shape: 1-D, per-group (2 and 5 groups), mixed, sliced, one row."""
    if shape == "scalar":
        return schedule_table(one_cycle(1e-2), 37)
    if shape == "groups":
        return schedule_table(one_cycle(slice(1e-4, 1e-2), n_groups=5), 37, start=5, stop=30)
    if shape == "one_row":
        return schedule_table(one_cycle(np.array([1e-3, 2e-3])), 37, start=36)
    rng = np.random.default_rng(0)
    vals = rng.choice(EXTREMES, size=(7, 2)) * rng.choice([1, -1], size=(7, 2))
    return ScheduleTable({"lr": vals, "wd": vals[:, 0].copy()}, n_steps=10, start=3)


@pytest.mark.parametrize("ext", [".csv", ".npz"])
@pytest.mark.parametrize("shape", ["scalar", "groups", "one_row", "extremes"])
def test_round_trip_every_shape_exact(tmp_path, ext, shape):
    t = _table(shape)
    u = load_table(save_table(t, tmp_path / f"t{ext}"))
    assert (u.n_steps, u.start, u.rows, list(u)) == (t.n_steps, t.start, t.rows, list(t))
    for k in t:
        assert u[k].shape == t[k].shape and u[k].dtype == np.float64
        np.testing.assert_array_equal(u[k], t[k])  # bit for bit, extremes and subnormals included


@pytest.mark.parametrize("ext", [".csv", ".npz"])
def test_float32_table_round_trip(tmp_path, ext):
    t = schedule_table({"lr": [SchedLin(0.1, 0.3), SchedLin(1e-3, 7e-3)], "mom": SchedLin(0.9, 0.8)}, 9, dtype=np.float32)
    u = load_table(save_table(t, tmp_path / f"t{ext}"))
    for k in t:
        np.testing.assert_array_equal(u[k], t[k])  # the same numbers (npz keeps float32, csv gives float64)
    assert u["lr"].dtype == (np.float32 if ext == ".npz" else np.float64)


@pytest.mark.parametrize("ext", [".csv", ".npz"])
def test_zero_row_slice_keeps_start(tmp_path, ext):
    t = schedule_table(one_cycle(1e-2), 37, start=12, stop=12)
    u = load_table(save_table(t, tmp_path / f"t{ext}"))
    assert (u.n_steps, u.start, u.rows) == (37, 12, 0)


def test_one_group_column_loads_1d(tmp_path):
    """A single ``lr[0]`` column is one value per step: 1-D, as a plain ``lr`` column."""
    t = schedule_table(one_cycle(np.array([1e-2])), 8)
    assert t["lr"].shape == (8, 1)
    u = load_table(save_table(t, tmp_path / "t.csv"))
    assert u["lr"].shape == (8,)
    np.testing.assert_array_equal(u["lr"], t["lr"][:, 0])


def test_group_columns_in_any_order(tmp_path):
    """A header ``lr[1],lr[0]`` (e.g. columns reordered by another tool) puts each group in place."""
    path = tmp_path / "t.csv"
    path.write_text("step,pos,lr[1],lr[0],n_steps,rows_left\n0,0.0,2.0,1.0,2,1\n1,0.5,4.0,3.0,2,0\n")
    np.testing.assert_array_equal(load_table(path)["lr"], [[1.0, 2.0], [3.0, 4.0]])
    path.write_text("step,pos,lr[0],lr[2],n_steps,rows_left\n0,0.0,2.0,1.0,1,0\n")
    with pytest.raises(ValueError, match=r"'lr' columns must be lr\[0\] .. lr\[1\]; got groups \[0, 2\]"):
        load_table(path)


# ------------------------------------------------------------------------------ plain readers


def test_table_csv_reads_with_plain_readers(tmp_path):
    t = schedule_table(one_cycle(slice(1e-4, 1e-2), n_groups=2), 20, start=3)
    path = save_table(t, tmp_path / "t.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 17 and float(rows[0]["lr[1]"]) == t["lr"][0, 1] and rows[0]["step"] == "3"
    a = np.genfromtxt(path, names=True, delimiter=",")
    assert a.shape == (17,) and a.dtype.names[:2] == ("step", "pos")
    np.testing.assert_array_equal(a["mom"], t["mom"])
    np.testing.assert_array_equal(a["step"], np.arange(3, 20))
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(path)
    np.testing.assert_array_equal(df["lr[0]"].to_numpy(), t["lr"][:, 0])


def test_curve_csv_reads_with_plain_readers(tmp_path):
    lrs, losses = np.geomspace(1e-5, 1, 9), np.linspace(3, 1, 9)
    path = save_curve(tmp_path / "c.csv", lrs, losses, num_it=9, settings={"beta": 0.98, "methods": ["valley", "slide"]})
    a = np.genfromtxt(path, names=True, delimiter=",")
    np.testing.assert_array_equal(a["lr"], lrs)
    np.testing.assert_array_equal(a["loss"], losses)
    with open(path, newline="") as f:
        assert [r["lr"] for r in csv.DictReader(f)] == [repr(x) for x in lrs.tolist()]
    c = load_curve(path)
    assert c.num_it == 9 and c.settings == {"beta": 0.98, "methods": ["valley", "slide"]}


def test_shortest_repr_numbers(tmp_path):
    t = ScheduleTable({"lr": np.array([0.1, 0.3, 1e-05, 0.1 + 0.2])}, n_steps=4)
    text = save_table(t, tmp_path / "t.csv").read_text()
    assert text.splitlines()[1:] == ["0,0.0,0.1,4,3", "1,0.25,0.3,4,2", "2,0.5,1e-05,4,1", "3,0.75,0.30000000000000004,4,0"]


# ------------------------------------------------------------------------------- truncation


def _cut_everywhere(path, load):
    """Every strict prefix of the file (cut mid-row or at a row boundary) is a ValueError naming it."""
    full = path.read_bytes()
    load(path)  # the whole file loads
    for k in range(len(full)):
        path.write_bytes(full[:k])
        with pytest.raises(ValueError) as e:
            load(path)
        assert str(path) in str(e.value), k


def test_truncated_table_csv_detected_at_every_cut(tmp_path):
    t = schedule_table(one_cycle(slice(1e-3, 1e-2), n_groups=2), 6, start=1)
    _cut_everywhere(save_table(t, tmp_path / "t.csv"), load_table)


def test_truncated_curve_csv_detected_at_every_cut(tmp_path):
    path = save_curve(tmp_path / "c.csv", [1e-3, 1e-2, 1e-1, 1.0], [3.0, 2.5, 2.0, 4.0], num_it=4, settings={"a": 1})
    _cut_everywhere(path, load_curve)


def test_truncation_messages(tmp_path):
    path = save_table(schedule_table(SchedLin(0, 1), 10), tmp_path / "t.csv")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:5]))
    with pytest.raises(ValueError, match=r"t.csv: the file is truncated: it ends after 4 rows, 6 rows short"):
        load_table(path)
    path.write_text("".join(lines[:5]) + lines[5][:4])
    with pytest.raises(ValueError, match=r"t.csv: the file is truncated: its last line ends early"):
        load_table(path)


# ------------------------------------------------------------------------------- old files


def test_old_table_files_still_load(tmp_path):
    (tmp_path / "old.csv").write_text("# schedcore-table-v1 n_steps=4\nstep,pos,lr[0],lr[1],mom\n"
                                      "2,0.5,0.10000000000000001,1,0.5\n3,0.75,0.20000000000000001,2,0.25\n")  # fmt: skip
    u = load_table(tmp_path / "old.csv")
    assert (u.n_steps, u.start) == (4, 2)
    np.testing.assert_array_equal(u["lr"], [[0.1, 1.0], [0.2, 2.0]])
    meta = np.array(["schedcore-table-v1", "4", "1"])
    np.savez(tmp_path / "old.npz", __meta__=meta, **{"hp.lr": np.array([1.0, 2.0, 3.0])})
    u = load_table(tmp_path / "old.npz")
    assert (u.n_steps, u.start, list(u)) == (4, 1, ["lr"])


def test_old_curve_files_still_load(tmp_path):
    (tmp_path / "old.csv").write_text('# schedcore-curve-v1 num_it=3\n# settings={"beta": 0.9}\nlr,loss\n0.1,2.0\n1.0,1.0\n')
    c = load_curve(tmp_path / "old.csv")
    assert (c.num_it, c.settings, c.lrs.tolist()) == (3, {"beta": 0.9}, [0.1, 1.0])
    meta = json.dumps({"format": "schedcore-curve-v1", "num_it": 2, "settings": {}})
    np.savez(tmp_path / "old.npz", lr=np.array([0.1, 1.0]), loss=np.array([2.0, 1.0]), __meta__=np.array(meta))
    assert load_curve(tmp_path / "old.npz").num_it == 2


def test_npz_keys_are_hyper_names_and_compressed(tmp_path):
    t = schedule_table(one_cycle(1e-2), 100_000)
    path = save_table(t, tmp_path / "t.npz")
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["__meta__.npy", "lr.npy", "mom.npy"]
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())
        assert path.stat().st_size < 0.8 * sum(i.file_size for i in z.infolist())
    with np.load(path) as z:
        np.testing.assert_array_equal(z["lr"], t["lr"])
    with zipfile.ZipFile(save_curve(tmp_path / "c.npz", [0.1, 1.0], [2.0, 1.0])) as z:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())


# ------------------------------------------------------------------------------ hostile files


def _load_within(load, path, seconds=10.0):
    """Call ``load(path)`` in a daemon thread; returns its exception (fails if it blocks)."""
    result = {}

    def run():
        try:
            load(path)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            result["error"] = e

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(seconds)
    assert not th.is_alive(), f"{load.__name__}({path}) still blocked after {seconds} s"
    return result.get("error")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("load, name", [(load_table, "t.csv"), (load_table, "t.npz"), (load_curve, "c.json")])
def test_fifo_refused_without_blocking(tmp_path, load, name):
    os.mkfifo(tmp_path / name)
    e = _load_within(load, tmp_path / name)
    assert isinstance(e, ValueError) and "not a regular file (a FIFO)" in str(e) and str(tmp_path) in str(e)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
@pytest.mark.parametrize("load, name", [(load_table, "t.csv"), (load_curve, "c.csv")])
def test_device_refused(tmp_path, load, name):
    (tmp_path / name).symlink_to("/dev/zero")
    e = _load_within(load, tmp_path / name)
    assert isinstance(e, ValueError) and "not a regular file (a character device)" in str(e)


def test_npz_sizes_checked_before_decompressing(tmp_path, monkeypatch):
    monkeypatch.setattr(_io, "_ALWAYS_FITS", 0)  # check every size: the sizes here are small
    path = save_table(ScheduleTable({"lr": np.zeros(400_000)}, 400_000), tmp_path / "t.npz")
    assert path.stat().st_size < 100_000  # 3.2 MB of zeros, compressed
    monkeypatch.setattr(_io, "memory_available", lambda: 1_000_000)
    inflated = []
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda *a, **k: inflated.append(1))
    with pytest.raises(ValueError, match=r"t.npz: decompressing .* \(3.1 MiB uncompressed\) would need 3.1 MiB of memory; 976.6 KiB available"):
        load_table(path)
    assert not inflated  # refused before reading a byte of any member


def test_npz_header_must_match_member_size(tmp_path):
    """A member whose header claims 10^11 elements is refused, not allocated."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**11,)})
    with zipfile.ZipFile(tmp_path / "c.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("lr.npy", buf.getvalue() + bytes(16))
        z.writestr("loss.npy", buf.getvalue() + bytes(16))
    with pytest.raises(ValueError, match=r"c.npz: member 'lr.npy': its header says shape \(100000000000,\)"):
        load_curve(tmp_path / "c.npz")


def test_curve_npz_arrays_win_over_metadata(tmp_path):
    meta = json.dumps({"lr": [9.0, 9.0], "loss": [9.0, 9.0], "num_it": 2, "settings": {"beta": 0.5}})
    np.savez(tmp_path / "c.npz", lr=np.array([0.1, 1.0]), loss=np.array([2.0, 1.0]), __meta__=np.array(meta))
    c = load_curve(tmp_path / "c.npz")
    assert (c.lrs.tolist(), c.losses.tolist(), c.num_it, c.settings) == ([0.1, 1.0], [2.0, 1.0], 2, {"beta": 0.5})


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"lr": ' + "[" * 100_000 + "]" * 100_000 + ', "loss": [1]}'])
def test_deep_json_is_a_value_error(tmp_path, text):
    (tmp_path / "c.json").write_text(text)
    with pytest.raises(ValueError, match="c.json: "):
        load_curve(tmp_path / "c.json")


def test_utf8_bom_accepted(tmp_path):
    bom = "\ufeff"
    (tmp_path / "c.json").write_text(bom + json.dumps({"lr": [0.1, 1.0], "loss": [2.0, 1.0]}), encoding="utf-8")
    (tmp_path / "c.csv").write_text(bom + "lr,loss\n0.1,2.0\n1.0,1.0\n", encoding="utf-8")
    (tmp_path / "c.data").write_text(bom + json.dumps({"lr": [0.1, 1.0], "loss": [2.0, 1.0]}), encoding="utf-8")
    for name in ("c.json", "c.csv", "c.data"):
        assert load_curve(tmp_path / name).lrs.tolist() == [0.1, 1.0]
    t = save_table(schedule_table(SchedLin(0, 1), 3), tmp_path / "t.csv")
    t.write_text(bom + t.read_text(), encoding="utf-8")
    assert load_table(t)["lr"].tolist() == [0.0, 1 / 3, 2 / 3]


# ------------------------------------------------------------------------------ atomic writes


def _temps(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".schedcore-tmp"))


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temps_removed_on_next_write(tmp_path):
    stale = tmp_path / f".t.csv.{_dead_pid()}.0123456789abcdef.schedcore-tmp"
    stale.write_bytes(b"x" * 1000)
    # a writer still running: a child of ours (never os.getppid(): under mutmut a mutant that
    # signals the pid, os.kill(pid, 1), would hang up the mutation runner itself)
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = tmp_path / f".t.csv.{writer.pid}.fedcba9876543210.schedcore-tmp"
        live.write_bytes(b"y")
        other = tmp_path / ".t.csv.12345.tmp"  # not ours: never touched
        other.write_bytes(b"z")
        save_table(schedule_table(SchedLin(0, 1), 3), tmp_path / "u.csv")
        assert not stale.exists() and live.exists() and other.exists() and writer.poll() is None
    finally:
        writer.kill()
        writer.wait()


def test_temp_names_recognisable_and_none_left_on_errors(tmp_path, monkeypatch):
    seen = []

    def write(f):
        seen.append(os.path.basename(f.name) if isinstance(f.name, str) else None)
        seen[-1] = _temps(tmp_path)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(tmp_path / "t.csv", write)
    (name,) = seen[0]
    assert name.startswith(".t.csv.") and name.endswith(".schedcore-tmp")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "d.csv").mkdir()  # os.replace onto a folder fails after the write
    with pytest.raises(OSError):
        save_table(schedule_table(SchedLin(0, 1), 3), tmp_path / "d.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["d.csv"]
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "k.csv", lambda f: (_ for _ in ()).throw(KeyboardInterrupt))
    assert [p.name for p in tmp_path.iterdir()] == ["d.csv"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_follow_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        for path in (save_table(schedule_table(SchedLin(0, 1), 3), tmp_path / "t.npz"),
                     save_curve(tmp_path / "c.csv", [0.1, 1.0], [2.0, 1.0])):  # fmt: skip
            assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    finally:
        os.umask(old)


def test_overwritten_file_keeps_its_mode(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("old")
    for mode in (0o644, 0o640, 0o600):
        os.chmod(path, mode)
        save_table(schedule_table(SchedLin(0, 1), 3), path)
        assert stat.S_IMODE(path.stat().st_mode) == mode
    assert LossCurve.of([0.1], [1.0]).save(tmp_path / "c.json").exists()


def test_table_csv_lines_are_the_saved_csv(tmp_path):
    """table_csv_lines (what ``schedcore table -o -`` streams) is byte for byte the .csv file."""
    from schedcore import SchedCos, table_csv_lines

    for table in (schedule_table(SchedCos(1.0, 0.0), 7), schedule_table({"lr": [SchedCos(1.0, 0.0), SchedCos(2.0, 0.0)]}, 5, stop=3)):
        path = save_table(table, tmp_path / "t.csv")
        assert "".join(table_csv_lines(table)) == path.read_text()
    with pytest.raises(TypeError, match="table must be a ScheduleTable"):
        table_csv_lines({"lr": [1.0]})
