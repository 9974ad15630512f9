"""The ``schedcore`` command end to end, through ``python -m schedcore`` in a subprocess."""

import json
import subprocess
import sys

import numpy as np
import pytest

from schedcore import (
    SchedExp,
    load_table,
    one_cycle,
    save_curve,
    schedule_table,
    sgdr,
    smooth_losses,
    suggest_lrs,
)
from schedcore.cli import main
from schedcore.suggest import minimum, slide, steep, valley


def schedcore(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "schedcore", *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def curve_file(tmp_path):
    n = 100
    lrs = SchedExp(1e-7, 10)(np.arange(n) / n)
    t = np.log10(lrs)
    raw = 2.5 - 2 / (1 + np.exp(-(t + 4))) + np.exp(2.5 * (t - 0.3)) + 0.02 * np.random.default_rng(0).standard_normal(n)
    losses = smooth_losses(raw)
    return save_curve(tmp_path / "lr_find.csv", lrs, losses, raw_losses=raw, num_it=100), lrs, losses


def test_suggest_table_output(curve_file, tmp_path):
    path, lrs, losses = curve_file
    flat = save_curve(tmp_path / "flat.json", lrs[:20], np.linspace(1, 2, 20))
    out = schedcore("suggest", path, flat)
    assert out.returncode == 0, out.stderr
    header, good, bad = out.stdout.splitlines()
    assert header.split() == ["curve", "points", "valley", "slide", "minimum", "steep", "diagnostics"]
    expected = suggest_lrs(lrs, losses, 100, (valley, slide, minimum, steep))
    assert good.split() == [str(path), "85", *(f"{v:.2e}" for v in expected), "ok"]
    # never decreasing: fastai's numbers on the trimmed curve (valley: its first lr, here lrs[2];
    # minimum: a tenth of it; steep: a number; slide: too few points) and the diagnosis
    cells = bad.split()
    assert [cells[2], cells[4]] == [f"{lrs[2]:.2e}", f"{lrs[2] / 10:.2e}"]
    assert cells[3] == "-" and cells[5] != "-" and "never decreases" in bad


@pytest.mark.requires_matplotlib
def test_suggest_json_methods_num_it_and_plot(curve_file, tmp_path):
    path, lrs, losses = curve_file
    png = tmp_path / "plots" / "lr.png"
    out = schedcore("suggest", path, "--methods", "valley,minimum", "--num-it", "50", "--json", "--plot", png, "--parents")
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    expected = suggest_lrs(lrs, losses, 50, (valley, minimum))
    assert row["suggestions"] == expected._asdict() and row["num_it"] == 50 and row["points"] == 90
    assert row["plot"] == str(png) and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.requires_matplotlib
def test_suggest_several_plots_and_foreign_file(curve_file, tmp_path):
    path, lrs, losses = curve_file
    history = tmp_path / "history.json"
    history.write_text(json.dumps({"lr": lrs.tolist(), "loss": losses.tolist()}))
    out = schedcore("suggest", path, history, "--plot", tmp_path / "p.png", "--json")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.glob("p_*.png")) == ["p_0_lr_find.png", "p_1_history.png"]
    a, b = json.loads(out.stdout)
    assert a["suggestions"] == b["suggestions"]


@pytest.mark.requires_matplotlib
def test_table_and_plot_policies(tmp_path):
    out = schedcore("table", "one_cycle", "--steps", 200, "--lr-max", "1e-3", "--pct-start", "0.3", "-o", tmp_path / "t.npz")
    assert out.returncode == 0, out.stderr
    t = load_table(tmp_path / "t.npz")
    np.testing.assert_array_equal(t["lr"], schedule_table(one_cycle(1e-3, pct_start=0.3), 200)["lr"])
    out = schedcore("table", "sgdr", "--steps", 70, "--n-cycles", 3, "--cycle-len", 1, "--lr-max", 0.1, "-o", tmp_path / "s.csv")
    assert out.returncode == 0 and "n_epoch=7" in out.stdout
    np.testing.assert_allclose(load_table(tmp_path / "s.csv")["lr"], schedule_table(sgdr(3, 1, 0.1)[0], 70)["lr"])
    out = schedcore("table", "one_cycle", "--steps", 10, "--lr-max", "1e-4,1e-3", "--moms", "none", "-o", tmp_path / "g.csv")
    t = load_table(tmp_path / "g.csv")
    assert out.returncode == 0 and list(t) == ["lr"] and t["lr"].shape == (10, 2)
    for policy, opts in [("wsd", ["--lr-max", 1, "--warmup-pct", 0.1, "--decay-pct", 0.2, "--decay", "sqrt"]),
                         ("flat_cos", ["--lr", 1]), ("lr_range", []), ("warmup_cosine", ["--lr-max", 1, "--warmup-pct", 0.1])]:  # fmt: skip
        assert main(["plot", policy, "--steps", "50", *map(str, opts), "-o", str(tmp_path / f"{policy}.png")]) == 0
        assert (tmp_path / f"{policy}.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "args,reason",
    [
        (["suggest", "X", "--methods", "valley,foo"], "unknown method"),
        (["suggest", "X", "--num-it", "0"], "integer >= 1"),
        (["table", "one_cycle", "--steps", 10, "-o", "t.npz"], "required: --lr-max"),
        (["table", "one_cycle", "--steps", "ten", "--lr-max", 1, "-o", "t.npz"], "--steps"),
        (["table", "one_cycle", "--steps", 10, "--lr-max", 1, "--pct-start", 2, "-o", "t.npz"], "pct_start"),
        (["table", "one_cycle", "--steps", 10, "--lr-max", "abc", "-o", "t.npz"], "not a number"),
        (["table", "one_cycle", "--steps", 10, "--lr-max", 1, "--bogus", 1, "-o", "t.npz"], "--bogus"),
        (["table", "one_cycle", "--steps", 10, "--lr-max", 1, "-o", "t.txt"], ".npz or .csv"),
        (["table", "no_such_policy", "--steps", 10], "no_such_policy"),
        pytest.param(["plot", "one_cycle", "--steps", 10, "--lr-max", 1, "-o", "t.nope"], "unknown figure format",
                     marks=pytest.mark.requires_matplotlib),  # fmt: skip
        ([], "required"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, monkeypatch, capsys, args, reason):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1 and reason in err, err
    assert list(tmp_path.iterdir()) == []


def test_bad_argument_through_subprocess(tmp_path):
    out = schedcore("table", "one_cycle", "--steps", 10, "-o", "t.npz", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "schedcore table one_cycle: error: the following arguments are required: --lr-max (see --help)"
    ]


def test_missing_and_malformed_files_exit_1_naming_them(curve_file, tmp_path):
    path, _, _ = curve_file
    out = schedcore("suggest", path, tmp_path / "missing.csv")
    assert out.returncode == 1 and "missing.csv" in out.stderr and out.stdout == ""
    (tmp_path / "bad.json").write_text('{"lr": [1, 2]}')
    out = schedcore("suggest", tmp_path / "bad.json")
    assert out.returncode == 1 and "bad.json: no 'loss' column" in out.stderr


@pytest.mark.parametrize("args", [[], ["suggest"], ["table"], ["plot"], ["table", "sgdr"]])
def test_help_has_examples(capsys, args):
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "usage: schedcore" in out
    if args:
        assert "example:" in out and "schedcore " + args[0] in out.split("example:")[1]


def test_main_in_process(curve_file, capsys):
    path, _, _ = curve_file
    assert main(["suggest", str(path), "--methods", "steep"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-1] == "ok"
