"""Tables and their files exactly (issue 14): the CSV text line by line (chunked, empty, grouped),
every malformed file's message, .npz metadata, slices, rows and the table's own checks."""

import re

import numpy as np
import pytest

from schedcore import (
    SchedCos,
    SchedExp,
    SchedLin,
    _io,
    load_table,
    save_table,
    schedule_table,
    table_csv_lines,
    tables,
)
from schedcore.tables import ScheduleTable


def _exact(message):
    return "^" + re.escape(message) + "$"


# ------------------------------------------------------------------------------ the table object


def test_table_object():
    t = ScheduleTable({"lr": np.arange(14.0).reshape(7, 2), "wd": np.zeros(7)}, n_steps=10, start=3)
    assert (t.rows, t.n_steps, t.start, len(t), list(t)) == (7, 10, 3, 2, ["lr", "wd"])
    np.testing.assert_array_equal(t.pos, np.arange(3, 10) / 10)
    np.testing.assert_array_equal(t.steps, np.arange(3, 10))
    assert repr(t) == "ScheduleTable(n_steps=10, start=3, {lr: (7, 2), wd: (7,)})"
    assert t.row(3)["lr"].tolist() == [0.0, 1.0] and t.row(9)["lr"].tolist() == [12.0, 13.0] and t.row(9)["wd"] == 0.0
    for k in (2, 10, -1):
        with pytest.raises(IndexError, match=_exact(f"step {k} is outside this table's steps [3, 10)")):
            t.row(k)
    with pytest.raises(TypeError, match=r"^k must be an integer; got 3.0 \(float\)$"):
        t.row(3.0)
    pos = np.array([0.5, 0.75])
    assert ScheduleTable({"lr": np.zeros(2)}, n_steps=4, start=2, pos=pos).pos is pos  # a given pos is used as is
    empty = ScheduleTable({}, n_steps=4)
    assert (empty.rows, empty.pos.tolist(), empty.steps.tolist()) == (0, [], [])
    with pytest.raises(ValueError, match=_exact("table columns have different lengths [2, 3]")):
        ScheduleTable({"a": np.zeros(2), "b": np.zeros(3)}, n_steps=5)


# ---------------------------------------------------------------------------------- schedule_table


@pytest.mark.parametrize("kw, rows, first", [
    (dict(n_steps=1), 1, 0), (dict(n_steps=4, stop=0), 0, None), (dict(n_steps=4, start=4), 0, None),
    (dict(n_steps=4, start=0, stop=4), 4, 0), (dict(n_steps=5, start=2, stop=3), 1, 2),
])  # fmt: skip
def test_schedule_table_steps_at_their_bounds(kw, rows, first):
    t = schedule_table(SchedLin(0, 1), **kw)
    assert t.rows == rows and t.start == kw.get("start", 0)
    np.testing.assert_array_equal(t["lr"], t.steps / kw["n_steps"])
    if rows:
        assert t.steps[0] == first


@pytest.mark.parametrize("kw, exc, message", [
    (dict(n_steps=0), ValueError, "n_steps must be an integer >= 1; got 0"),
    (dict(n_steps=4, start=-1), ValueError, "start must be an integer >= 0; got -1"),
    (dict(n_steps=4, stop=-1), ValueError, "stop must be an integer >= 0; got -1"),
    (dict(n_steps=4, start=3, stop=2), ValueError, "need 0 <= start <= stop <= n_steps; got start=3, stop=2, n_steps=4"),
    (dict(n_steps=4, stop=5), ValueError, "need 0 <= start <= stop <= n_steps; got start=0, stop=5, n_steps=4"),
    (dict(n_steps=4, start=5), ValueError, "need 0 <= start <= stop <= n_steps; got start=5, stop=4, n_steps=4"),
    (dict(n_steps=4, dtype=np.float16), ValueError, "dtype must be float64 or float32; got <class 'numpy.float16'>"),
    (dict(n_steps=4, dtype="no such type"), ValueError, "dtype must be float64 or float32; got 'no such type'"),
])  # fmt: skip
def test_schedule_table_argument_messages(kw, exc, message):
    with pytest.raises(exc, match=_exact(message)):
        schedule_table(SchedLin(0, 1), **kw)


def test_schedule_table_inputs():
    t = schedule_table(lambda p: 1 - p, 4)  # a plain callable is the "lr" column
    assert list(t) == ["lr"] and t["lr"].tolist() == [1.0, 0.75, 0.5, 0.25]
    t = schedule_table({"lr": [SchedLin(0, 1), lambda p: 2 * p], "mom": SchedLin(1, 0)}, 4, start=1, dtype="float32")
    assert t["lr"].dtype == np.float32 and t["mom"].dtype == np.float32
    np.testing.assert_array_equal(t["lr"], np.array([[0.25, 0.5], [0.5, 1.0], [0.75, 1.5]], np.float32))
    np.testing.assert_array_equal(t["mom"], np.array([0.75, 0.5, 0.25], np.float32))
    with pytest.raises(TypeError, match=r"^scheds must be a schedule or a dict of name -> schedule; got \[0.1\]$"):
        schedule_table([0.1], 4)
    with pytest.raises(ValueError, match=_exact("'lr': an empty list of per-group schedules")):
        schedule_table({"lr": []}, 4)
    with pytest.raises(ValueError, match=r"^'lr': per-group schedule 1 has 2 values per step; in a per-group list each schedule gives one$"):
        schedule_table({"lr": [SchedLin(0, 1), SchedLin([0, 1], [1, 2])]}, 4)
    with pytest.raises(TypeError, match=r"^the schedule for 'mom' must be a schedule \(a Schedule or a callable of pos\); got 0.9$"):
        schedule_table({"lr": SchedLin(0, 1), "mom": 0.9}, 4)
    with pytest.raises(TypeError, match=r"^the schedule for lr\[1\] must be a schedule \(a Schedule or a callable of pos\); got 'x'$"):
        schedule_table({"lr": [SchedLin(0, 1), "x"]}, 4)
    t = schedule_table({"lr": [SchedLin([0.0], [1.0])]}, 2)  # one value per step is fine
    assert t["lr"].tolist() == [[0.0], [0.5]]


def test_schedule_table_memory_check(monkeypatch):
    monkeypatch.setattr(_io, "_ALWAYS_FITS", 0)  # check every size: the sizes here are small
    monkeypatch.setattr(_io, "memory_available", lambda: 240)
    schedule_table({"lr": SchedLin(0, 1), "mom": SchedLin(1, 0)}, 20, start=5, stop=15)  # 8 * 10 * 3 bytes fit
    monkeypatch.setattr(_io, "memory_available", lambda: 239)
    with pytest.raises(ValueError, match=_exact("a table of 10 steps (n_steps=20, start=5, stop=15) x 3 columns "
                                                "would need 240 B of memory; 239 B available")):  # fmt: skip
        schedule_table({"lr": SchedLin(0, 1), "mom": SchedLin(1, 0)}, 20, start=5, stop=15)


def test_schedule_table_memory_check_counts_per_group_columns_and_dtype(monkeypatch):
    """Per-group columns hold G values per step; float32 columns 4 bytes each (positions stay float64)."""
    monkeypatch.setattr(_io, "_ALWAYS_FITS", 0)
    scheds = {"lr": [SchedLin(0, 1)] * 4, "mom": SchedLin([1.0, 2.0], [0.0, 0.0])}  # 4 + 2 values per step
    monkeypatch.setattr(_io, "memory_available", lambda: 10 * 8 * 7)
    schedule_table(scheds, 10)  # 10 steps x (1 + 6) float64 values
    monkeypatch.setattr(_io, "memory_available", lambda: 10 * 8 * 7 - 1)
    with pytest.raises(ValueError, match=_exact("a table of 10 steps (n_steps=10, start=0, stop=10) x 7 columns "
                                                "would need 560 B of memory; 559 B available")):  # fmt: skip
        schedule_table(scheds, 10)
    monkeypatch.setattr(_io, "memory_available", lambda: 10 * (8 + 4 * 6))
    schedule_table(scheds, 10, dtype=np.float32)
    monkeypatch.setattr(_io, "memory_available", lambda: 10 * (8 + 4 * 6) - 1)
    with pytest.raises(ValueError, match="would need 320 B of memory; 319 B available"):
        schedule_table(scheds, 10, dtype=np.float32)


# ------------------------------------------------------------------------------------ CSV text


def test_csv_text_in_chunks(monkeypatch):
    monkeypatch.setattr(tables, "_CSV_CHUNK", 3)
    t = ScheduleTable({"lr": np.array([[0.5, 1.0]] * 7), "wd": np.arange(7) / 8}, n_steps=10, start=3)
    chunks = list(table_csv_lines(t))
    assert chunks[0] == "step,pos,lr[0],lr[1],wd,n_steps,rows_left\n"
    assert [c.count("\n") for c in chunks[1:]] == [3, 3, 1]
    assert "".join(chunks[1:]).splitlines() == [
        f"{3 + i},{(3 + i) / 10!r},0.5,1.0,{i / 8!r},10,{6 - i}" for i in range(7)
    ]


def test_csv_text_of_an_empty_table(tmp_path):
    t = schedule_table({"lr": [SchedLin(0, 1), SchedLin(0, 2)], "mom": SchedLin(1, 0)}, 37, start=12, stop=12)
    text = "# schedcore-table-v1 n_steps=37 start=12\nstep,pos,lr[0],lr[1],mom\n"
    assert "".join(table_csv_lines(t)) == text and save_table(t, tmp_path / "t.csv").read_text() == text


def test_save_table_extensions_and_reserved_names(tmp_path):
    t = schedule_table(SchedLin(0, 1), 4, start=1)
    for name in ("T.NPZ", "T.CSV"):  # the extension's case does not matter
        u = load_table(save_table(t, tmp_path / name))
        assert (u.n_steps, u.start, u["lr"].tolist()) == (4, 1, [0.25, 0.5, 0.75])
    bad = ScheduleTable({"pos": np.zeros(2), "step": np.zeros(2), "lr": np.zeros(2)}, 2)
    with pytest.raises(ValueError, match=r"t.csv: hyper-parameter names \['pos', 'step'\] are reserved by the file format$"):
        save_table(bad, tmp_path / "t.csv")
    with pytest.raises(ValueError, match=r"t.txt: unknown table format '.txt'; use .npz or .csv$"):
        save_table(t, tmp_path / "t.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["T.CSV", "T.NPZ"]


# ------------------------------------------------------------------------------- reading CSV


HEADER = "step,pos,lr,n_steps,rows_left\n"


@pytest.mark.parametrize("text, message", [
    ("", "the first line must be the column header 'step,pos,...,n_steps,rows_left' (or '# schedcore-table-v1 n_steps=N' in older files)"),
    ("step,pos,lr\n0,0.0,1.0\n", "the first line must be the column header 'step,pos,...,n_steps,rows_left' (or '# schedcore-table-v1 n_steps=N' in older files)"),
    ("pos,step,lr,n_steps,rows_left\n", "the first line must be the column header 'step,pos,...,n_steps,rows_left' (or '# schedcore-table-v1 n_steps=N' in older files)"),
    ("step,pos,lr,rows_left,n_steps\n", "the first line must be the column header 'step,pos,...,n_steps,rows_left' (or '# schedcore-table-v1 n_steps=N' in older files)"),
    (HEADER, "the file is truncated: it has a header but no rows"),
    (HEADER + "0,0.0,1.0,4,3\n1,0.25,1.0,4,1\n2,0.5,1.0,4,0\n", "the rows_left column must count down by one to 0; got 3.0, 1.0, 0.0"),
    (HEADER + "".join(f"{i},0.0,1.0,9,{5 - i}\n" for i in range(4)) + "4,0.0,1.0,9,2\n",
     "the rows_left column must count down by one to 0; got 5.0, 4.0, 3.0, ..."),
    (HEADER + "".join(f"{i},0.0,1.0,9,{k}\n" for i, k in enumerate([4, 3, 1, 0])),
     "the rows_left column must count down by one to 0; got 4.0, 3.0, 1.0, ..."),
    (HEADER + "0,0.0,1.0,4,1\n1,0.25,1.0,4,0\n2,0.5,1.0,4,-1\n", "the rows_left column must count down by one to 0; got 1.0, 0.0, -1.0"),
    (HEADER + "0,0.0,1.0,4,-1\n", "the rows_left column must count down by one to 0; got -1.0"),
    (HEADER + "0,0.0,1.0,4,2\n1,0.25,1.0,4,1\n", "the file is truncated: it ends after 2 rows, 1 rows short"),
    (HEADER + "0,0.0,1.0,4,1\n1,0.25,1.0,5,0\n", "the n_steps column must hold one value"),
    (HEADER + "0,0.0,1.0,4,1\n1,0.25,1.0,4\n", "row 2 has 4 fields for 5 columns"),
    (HEADER + "0,0.0,1.0,4,1\n1,0.25,1.0,4,0,7\n", "row 2 has 6 fields for 5 columns"),
    (HEADER + "0,0.0,a,4,0\n", "rows must be numbers, one per header column"),
    (HEADER + "0.5,0.0,1.0,4,0\n", "the step column must hold integers; got 0.5"),
    (HEADER + "1,0.0,1.0,4,1\n3,0.25,1.0,4,0\n", "the step column must count up by one"),
    (HEADER + "0,0.0,1.0,4.5,0\n", "n_steps must be an integer; got 4.5"),
    (HEADER + "0,0.0,nan,4,0\n", "column 'lr' must hold finite floats (1-D or 2-D)"),
    (HEADER + "3,0.0,1.0,4,1\n4,0.0,1.0,4,0\n", "need 0 <= start <= stop <= n_steps; got start=3, stop=5, n_steps=4"),
    ("step,pos,lr,lr,n_steps,rows_left\n0,0.0,1.0,1.0,4,0\n", "column 'lr' repeats or mixes with another 'lr' column"),
    ("step,pos,lr,lr[0],n_steps,rows_left\n0,0.0,1.0,1.0,4,0\n", "column 'lr[0]' repeats or mixes with another 'lr' column"),
    ("step,pos,lr[0],lr,n_steps,rows_left\n0,0.0,1.0,1.0,4,0\n", "column 'lr' repeats or mixes with another 'lr' column"),
    ("step,pos,lr[1],lr[1],n_steps,rows_left\n0,0.0,1.0,1.0,4,0\n", "column 'lr[1]' repeats or mixes with another 'lr' column"),
    ("step,pos,lr[1],n_steps,rows_left\n0,0.0,1.0,4,0\n", "the 'lr' columns must be lr[0] .. lr[0]; got groups [1]"),
    ("step,pos,n_steps,rows_left\n0,0.0,4,0\n", "the table has no hyper-parameter columns"),
    # v1 files: a comment line first
    ("# schedcore-table-v2 n_steps=4\nstep,pos,lr\n", "first line must be '# schedcore-table-v1 n_steps=N'"),
    ("# schedcore-table-v1 start=0 n_steps=4\nstep,pos,lr\n", "first line must be '# schedcore-table-v1 n_steps=N'"),
    ("# schedcore-table-v1 n_steps=x\nstep,pos,lr\n", "bad n_steps in header line '# schedcore-table-v1 n_steps=x'"),
    ("# schedcore-table-v1 n_steps=4=4\nstep,pos,lr\n", "bad n_steps in header line '# schedcore-table-v1 n_steps=4=4'"),
    ("# schedcore-table-v1 n_steps=4 start=s\nstep,pos,lr\n", "bad n_steps in header line '# schedcore-table-v1 n_steps=4 start=s'"),
    ("# schedcore-table-v1 n_steps=4\n", "second line must be the column header 'step,pos,...'"),
    ("# schedcore-table-v1 n_steps=4\npos,step,lr\n", "second line must be the column header 'step,pos,...'"),
    ("# schedcore-table-v1 n_steps=4\nstep,pos,lr\n0,0.0\n", "row 1 has 2 fields for 3 columns"),
])  # fmt: skip
def test_malformed_csv_messages(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=_exact(f"{path}: {message}")):
        load_table(path)


@pytest.mark.parametrize("text, n_steps, start, values", [
    ("# schedcore-table-v1 n_steps=4 start=2\nstep,pos,lr\n", 4, 2, {"lr": []}),
    ("# schedcore-table-v1 n_steps=6 start=5\nstep,pos,lr,mom\n", 6, 5, {"lr": [], "mom": []}),
    ("# schedcore-table-v1 n_steps=4\nstep,pos,lr\n", 4, 0, {"lr": []}),
    ("# schedcore-table-v1 n_steps=4 note=a=b start=0\nstep,pos,lr\n1,0.25,0.5\n2,0.5,0.25\n", 4, 1, {"lr": [0.5, 0.25]}),
    ("# schedcore-table-v1 n_steps=4 start=3\nstep,pos,lr[1],lr[0]\n3,0.75,2,1\n", 4, 3, {"lr": [[1.0, 2.0]]}),
    ("# schedcore-table-v1 n_steps=8\nstep,pos,a[b],c[1]x\n0,0.0,1,2\n", 8, 0, {"a[b]": [1.0], "c[1]x": [2.0]}),
    ("step,pos,lr,mom,n_steps,rows_left\n5,0.5,1,2,10,1\n6,0.6,3,4,10,0\n", 10, 5, {"lr": [1.0, 3.0], "mom": [2.0, 4.0]}),
])  # fmt: skip
def test_csv_files_load(tmp_path, text, n_steps, start, values):
    path = tmp_path / "t.csv"
    path.write_text(text)
    t = load_table(path)
    assert (t.n_steps, t.start, list(t)) == (n_steps, start, list(values))
    for k, v in values.items():
        assert t[k].tolist() == v and t[k].dtype == np.float64


# ------------------------------------------------------------------------------- reading .npz


def _npz(path, meta, **arrays):
    np.savez(path, **({} if meta is None else {"__meta__": np.array(meta)}), **arrays)
    return path


@pytest.mark.parametrize("meta, arrays, message", [
    (None, dict(lr=np.zeros(2)), "not a schedcore table (missing or wrong __meta__)"),
    (["schedcore-table-v2", "4"], dict(lr=np.zeros(2)), "not a schedcore table (missing or wrong __meta__)"),
    (["schedcore-table-v2", "4", "0", "x"], dict(lr=np.zeros(2)), "not a schedcore table (missing or wrong __meta__)"),
    (["schedcore-table-v3", "4", "0"], dict(lr=np.zeros(2)), "not a schedcore table (missing or wrong __meta__)"),
    (["schedcore-table-v2", "four", "0"], dict(lr=np.zeros(2)), "bad n_steps 'four' in __meta__"),
    (["schedcore-table-v2", "4", "1.5"], dict(lr=np.zeros(2)), "bad start '1.5' in __meta__"),
    (["schedcore-table-v2", "4", "0"], dict(lr=np.arange(2)), "column 'lr' must hold finite floats (1-D or 2-D)"),
    (["schedcore-table-v2", "4", "0"], dict(lr=np.zeros((2, 1, 1))), "column 'lr' must hold finite floats (1-D or 2-D)"),
    (["schedcore-table-v2", "4", "0"], dict(lr=np.array([0.0, np.inf])), "column 'lr' must hold finite floats (1-D or 2-D)"),
    (["schedcore-table-v2", "4", "3"], dict(lr=np.zeros(2)), "need 0 <= start <= stop <= n_steps; got start=3, stop=5, n_steps=4"),
    (["schedcore-table-v1", "4", "0"], dict(lr=np.zeros(2)), "the table has no hyper-parameter columns"),  # v1 needs hp.*
])  # fmt: skip
def test_malformed_npz_messages(tmp_path, meta, arrays, message):
    path = _npz(tmp_path / "t.npz", meta, **arrays)
    with pytest.raises(ValueError, match=_exact(f"{path}: {message}")):
        load_table(path)


def test_npz_files_load(tmp_path):
    t = load_table(_npz(tmp_path / "a.npz", ["schedcore-table-v2", "9", "2"], lr=np.array([[1.0, 2.0]] * 3), mom=np.ones(3)))
    assert (t.n_steps, t.start, list(t), t["lr"].shape) == (9, 2, ["lr", "mom"], (3, 2))
    t = load_table(_npz(tmp_path / "b.npz", ["schedcore-table-v1", "7", "4"], **{"hp.lr": np.ones(3), "other": np.ones(3)}))
    assert (t.n_steps, t.start, list(t)) == (7, 4, ["lr"])
    t = schedule_table(SchedLin(0, 1), 8, start=3, stop=6)
    with np.load(save_table(t, tmp_path / "c.npz")) as z:
        assert z["__meta__"].tolist() == ["schedcore-table-v2", "8", "3"] and z["lr"].tolist() == [0.375, 0.5, 0.625]


def test_load_table_path_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"none.csv: no such table file$"):
        load_table(tmp_path / "none.csv")
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(ValueError, match=r"t.json: unknown table format '.json'; use .npz or .csv$"):
        load_table(tmp_path / "t.json")


@pytest.mark.parametrize("sched", [SchedCos(1.0, 0.1), SchedExp(1e-3, 1.0)])
def test_float32_group_column_is_its_schedules_float32_column(sched):
    """Each per-group column is computed in the table's dtype, as the schedule's own column is
    (float32 arithmetic, not float64 rounded afterwards: those differ in the last bits)."""
    own = schedule_table({"lr": sched}, 1000, dtype=np.float32)["lr"]
    grouped = schedule_table({"lr": [sched, sched]}, 1000, dtype=np.float32)["lr"]
    np.testing.assert_array_equal(grouped, np.stack([own, own], 1))
    assert np.any(own != schedule_table({"lr": sched}, 1000)["lr"].astype(np.float32))
