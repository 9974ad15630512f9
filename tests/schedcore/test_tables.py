"""Schedule tables: values, slices, and .npz/.csv files (round trips, atomic writes, bad files)."""

import os

import numpy as np
import pytest

from schedcore import load_table, one_cycle, save_table, schedule_table, sgdr
from schedcore.annealers import SchedLin


def test_table_values_and_single_schedule():
    t = schedule_table(SchedLin(0, 1), 4)
    assert list(t) == ["lr"] and t["lr"].tolist() == [0, 0.25, 0.5, 0.75]
    assert t.row(2) == {"lr": 0.5}
    with pytest.raises(IndexError, match="step 4 is outside"):
        t.row(4)


def test_table_slice_equals_full_table_rows():
    full = schedule_table(one_cycle(1e-2), 1000)
    part = schedule_table(one_cycle(1e-2), 1000, start=250, stop=600)
    for k in full:
        np.testing.assert_array_equal(part[k], full[k][250:600])
    assert part.steps[0] == 250 and part.rows == 350


def test_per_group_table_shape():
    t = schedule_table(one_cycle(slice(1e-4, 1e-2), n_groups=3), 10)
    assert t["lr"].shape == (10, 3) and t["mom"].shape == (10,)
    np.testing.assert_allclose(t["lr"][0], np.array([1e-4, 1e-3, 1e-2]) / 25)


@pytest.mark.parametrize("ext", [".npz", ".csv"])
@pytest.mark.parametrize("groups", [None, 3])
def test_round_trip(tmp_path, ext, groups):
    lr = slice(1e-4, 1e-2) if groups else 1e-2
    t = schedule_table(one_cycle(lr, n_groups=groups), 37, start=5)
    path = t.save(tmp_path / f"t{ext}")
    u = load_table(path)
    assert (u.n_steps, u.start, list(u)) == (37, 5, list(t))
    for k in t:
        np.testing.assert_array_equal(u[k], t[k])  # 17 significant digits: exact
    np.testing.assert_array_equal(u.pos, t.pos)


def test_sgdr_table_round_trip(tmp_path):
    scheds, n_epoch = sgdr(3, 1, 1e-3)
    t = schedule_table(scheds, n_epoch * 10)
    u = load_table(save_table(t, tmp_path / "s.csv"))
    np.testing.assert_array_equal(u["lr"], t["lr"])


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "t.npz"
    schedule_table(SchedLin(0, 1), 5).save(path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        schedule_table(SchedLin(0, 2), 5).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["t.npz"]  # no temp file left behind


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("a.csv", "", "first line must be"),
        ("b.csv", "# schedcore-table-v1 n_steps=x\nstep,pos,lr\n", "bad n_steps"),
        ("c.csv", "# schedcore-table-v1 n_steps=4\nfoo,pos,lr\n", "column header"),
        ("d.csv", "# schedcore-table-v1 n_steps=4\nstep,pos,lr\n0,0,abc\n", "rows must be numbers"),
        ("e.csv", "# schedcore-table-v1 n_steps=4\nstep,pos,lr\n0,0,1\n2,0.5,1\n", "count up by one"),
        ("f.csv", "# schedcore-table-v1 n_steps=1\nstep,pos,lr\n0,0,1\n1,0.5,1\n", "stop <= n_steps"),
        ("g.csv", "# schedcore-table-v1 n_steps=4\nstep,pos,lr\n0,0,nan\n", "finite floats"),
        ("h.npz", "not a zip", "not a readable .npz"),
        ("i.txt", "x", "unknown table format '.txt'"),
    ],
)
def test_malformed_files(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as e:
        load_table(path)
    assert str(path) in str(e.value)


def test_npz_without_meta(tmp_path):
    np.savez(tmp_path / "x.npz", lr=np.ones(3))
    with pytest.raises(ValueError, match="not a schedcore table"):
        load_table(tmp_path / "x.npz")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such table file"):
        load_table(tmp_path / "nope.npz")


def test_save_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match="unknown table format '.json'"):
        schedule_table(SchedLin(0, 1), 3).save(tmp_path / "t.json")


def test_per_group_list_of_schedules_is_one_column_per_group():
    """``{"lr": [f0, f1]}`` gives a ``(rows, 2)`` column whose column g is ``f_g(k/n)``."""
    from schedcore import SchedCos, SchedLin, schedule_table

    t = schedule_table({"lr": [SchedLin(0.0, 1.0), SchedCos(2.0, 0.0)]}, 8)
    k = np.arange(8) / 8
    np.testing.assert_allclose(t["lr"][:, 0], k)
    np.testing.assert_allclose(t["lr"][:, 1], 2.0 * (1 + np.cos(np.pi * k)) / 2)
    with pytest.raises(ValueError, match="per-group schedule 0 has 2 values per step"):
        schedule_table({"lr": [SchedLin([0.0, 1.0], 1.0)]}, 4)
    with pytest.raises(ValueError, match="'lr': an empty list"):
        schedule_table({"lr": []}, 4)


@pytest.mark.parametrize("policy", ["one_cycle", "flat_cos", "sgdr", "lr_range", "warmup_cosine", "wsd"])
def test_float32_tables_equal_float64_within_float32_rounding(policy):
    """``dtype=float32`` keeps the dtype end to end and matches the float64 table to float32 precision."""
    from schedcore import flat_cos, lr_range, one_cycle, schedule_table, sgdr, warmup_cosine, wsd

    scheds = {
        "one_cycle": lambda: one_cycle([1e-3, 1e-2]),
        "flat_cos": lambda: flat_cos(1e-2),
        "sgdr": lambda: sgdr(3, 1, 1e-2)[0],
        "lr_range": lambda: lr_range(),
        "warmup_cosine": lambda: warmup_cosine(1e-2, 0.1),
        "wsd": lambda: wsd(1e-2, 0.1, 0.2),  # not "sqrt": its slope is infinite at the decay's start
    }[policy]()
    t32 = schedule_table(scheds, 1000, dtype=np.float32)
    t64 = schedule_table(scheds, 1000)
    for name in t64:
        assert t32[name].dtype == np.float32 and t32[name].shape == t64[name].shape
        # float32 positions and maths: errors of a few float32 ulps of the column's scale
        np.testing.assert_allclose(t32[name], t64[name], rtol=2e-6, atol=4e-7 * np.abs(t64[name]).max())
    with pytest.raises(ValueError, match="dtype must be float64 or float32; got 'int64'"):
        schedule_table(scheds, 10, dtype="int64")


def test_direct_call_on_sorted_positions_equals_table_and_still_checks():
    """The direct call's one-pass check (sorted + ends in [0, 1]) gives the table's values, and
    every bad position is still a ValueError naming it (NaN, out of range, unsorted or not)."""
    from schedcore import one_cycle, schedule_table

    lr = one_cycle(1e-3)["lr"]
    x = np.arange(1000) / 1000
    np.testing.assert_array_equal(lr(x), schedule_table({"lr": lr}, 1000)["lr"])
    np.testing.assert_array_equal(lr(x[::-1]), lr(x)[::-1])  # unsorted: the general path, same values
    for bad, shown in (([0.1, np.nan, 0.5], "nan"), ([0.0, 0.5, 1.5], "1.5"), ([-0.5, 0.2, 0.1], "-0.5"),
                       ([0.2, 0.1, 2.0], "2.0"), ([-0.5, 0.5], "-0.5"), ([-0.5, -0.25, 0.5], "-0.5")):  # fmt: skip
        # (sorted with a negative start: the one-pass check must look at the first position)
        with pytest.raises(ValueError, match=f"positions must lie in \\[0, 1\\]; got {shown}"):
            lr(np.array(bad))


def test_float32_positions_split_at_the_float64_boundaries():
    """A float32 table assigns each position to the piece the float64 comparison gives (the
    boundaries are rounded up to float32, not the positions widened: no float64 copy)."""
    from schedcore.combine import _bounds_like

    bounds = np.array([0.1, 0.25, 1 / 3, 0.7])
    p = np.sort(np.concatenate([np.nextafter(bounds.astype(np.float32), np.float32(d)) for d in (0, 1)]
                               + [bounds.astype(np.float32)]))  # fmt: skip
    expected = np.searchsorted(p.astype(np.float64), bounds, side="left")
    np.testing.assert_array_equal(np.searchsorted(p, _bounds_like(bounds, p), side="left"), expected)
