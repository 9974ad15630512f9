"""The command line never prints a traceback: one line on stderr, exit 1 or 2 (issue 11)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import schedcore.cli
from schedcore import load_table, one_cycle, schedule_table
from schedcore.cli import main


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "schedcore", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)  # fmt: skip


def _one_line_error(out, code: int, match: str) -> None:
    assert out.returncode == code, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert match in out.stderr, out.stderr


@pytest.mark.parametrize("args, code, match", [
    (["table", "one_cycle", "--steps", "1000000000000", "--lr-max", "1e-2"], 1,
     "a table of 1000000000000 steps (n_steps=1000000000000, start=0, stop=1000000000000) x 3 columns would need 21.8 TiB"),
    (["table", "sgdr", "--steps", "10", "--n-cycles", "1100", "--cycle-len", "1", "--lr-max", "0.1"], 2,
     "n_cycles=1100 cycles of cycle_len=1.0 growing by cycle_mult=2.0 add up to more epochs than a float holds"),
    (["table", "one_cycle", "--steps", "10", "--lr-max", "1e-2", "--div", "5e-324"], 2, "lr_max / div overflows"),
    (["table", "one_cycle", "--steps", "10", "--lr-max", "nan"], 2, "lr_max must be a finite number >= 0; got nan"),
    (["table", "one_cycle", "--steps", "1e12", "--lr-max", "1e-2"], 2, "--steps"),
])  # fmt: skip
def test_bad_numbers_are_one_line(tmp_path, args, code, match):
    _one_line_error(run(*args, "-o", tmp_path / "t.npz"), code, match)
    assert list(tmp_path.iterdir()) == []


def test_deep_json_and_fifo_are_one_line(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    _one_line_error(run("suggest", tmp_path / "deep.json"), 1, "deep.json: nested too deeply to be a curve")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "f.csv")
        _one_line_error(run("suggest", tmp_path / "f.csv"), 1, "f.csv: not a regular file (a FIFO)")


def test_memory_error_is_one_line(tmp_path, monkeypatch, capsys):
    """Whatever the up-front checks miss (memory taken by others meanwhile) is still one line."""

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(schedcore.cli, "schedule_table", no_memory)
    with pytest.raises(SystemExit) as e:
        main(["table", "one_cycle", "--steps", "10", "--lr-max", "1e-2", "-o", str(tmp_path / "t.csv")])
    assert e.value.code == 1
    assert capsys.readouterr().err == "schedcore: error: out of memory; use fewer --steps (or a .npz file rather than .csv)\n"


def test_csv_written_in_chunks(tmp_path, monkeypatch):
    """Large tables are formatted a chunk at a time; chunk edges change nothing."""
    t = schedule_table(one_cycle(slice(1e-4, 1e-2), n_groups=2), 10, start=1)
    whole = t.save(tmp_path / "a.csv").read_text()
    monkeypatch.setattr(schedcore.tables, "_CSV_CHUNK", 4)
    assert t.save(tmp_path / "b.csv").read_text() == whole
    u = load_table(tmp_path / "b.csv")
    np.testing.assert_array_equal(u["lr"], t["lr"])
