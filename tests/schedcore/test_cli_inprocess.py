"""The ``schedcore`` command in-process: ``main([...])`` with capsys and tmp_path.

The subprocess tests (test_cli*.py) check the real process: pipes, exit statuses, the
interpreter's last flush. These check the same command where a test can see every line it runs
(mutation testing only counts in-process calls): exact stdout/stderr, exit codes, table values
as closed-form numbers, and the help text stating each option's unit and default. Figures are
not drawn here: ``schedcore.plot``'s functions are replaced by recorders (test_plot.py and
test_cli_tool.py draw real ones).
"""

import json
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import schedcore
import schedcore.plot
from schedcore import (
    SchedExp,
    diagnose,
    flat_cos,
    load_table,
    one_cycle,
    save_curve,
    save_table,
    schedule_table,
    smooth_losses,
    suggest_lrs,
    trim_curve,
)
from schedcore.cli import _count, _default, _methods, _plain, _plots_files, _positive_int, _value, main
from schedcore.policies import POLICIES
from schedcore.suggest import SuggestionWarning, minimum, slide, steep, valley

FUNCS = (valley, slide, minimum, steep)


def run(capsys, *args, code=0):
    """``main(args)``: (stdout, stderr), after checking the exit code (returned or SystemExit)."""
    try:
        got = main([str(a) for a in args])
    except SystemExit as e:
        got = e.code
    out, err = capsys.readouterr()
    assert got == code, (got, out, err)
    return out, err


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ----------------------------------------------------------------------------- figure recorders


class Axis:
    def __init__(self):
        self.scale = "linear"

    def set_yscale(self, scale):
        self.scale = scale


class Figure:
    """What the CLI asked ``schedcore.plot`` for: the function, its arguments, then saved/closed."""

    def __init__(self, kind, args, kwargs):
        self.kind, self.args, self.kwargs = kind, args, kwargs
        self.axes = [Axis(), Axis()]
        self.saved, self.closed = None, False


@pytest.fixture
def figures(monkeypatch):
    made = []

    def recorder(kind):
        def plot(*args, **kwargs):
            made.append(Figure(kind, args, kwargs))
            return made[-1]

        return plot

    def save_figure(fig, path):
        path = Path(path)
        if path.suffix not in (".png", ".pdf", ".svg"):
            raise ValueError(f"{path}: unknown figure format {path.suffix!r}")
        fig.saved = path
        path.write_bytes(b"figure")
        return path

    def close(fig):
        fig.closed = True

    monkeypatch.setattr(schedcore.plot, "plot_schedules", recorder("schedules"))
    monkeypatch.setattr(schedcore.plot, "plot_lr_find", recorder("lr_find"))
    monkeypatch.setattr(schedcore.plot, "save_figure", save_figure)
    monkeypatch.setattr(schedcore.plot, "close", close)
    return made


# ------------------------------------------------------------------------------------ --version, argv


def test_version_and_sys_argv(capsys, monkeypatch, workdir):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"schedcore {schedcore.__version__}\n"
    # no argv: the arguments after the program name
    monkeypatch.setattr(sys, "argv", ["schedcore", "table", "flat_cos", "--steps", "2", "--lr", "1", "-o", "t.csv"])
    assert main() == 0
    assert capsys.readouterr().out == "wrote t.csv (flat_cos, 2 steps: lr)\n"


# ---------------------------------------------------------------------------------------- table


def test_table_files_state_what_they_hold(capsys, workdir):
    out, err = run(capsys, "table", "flat_cos", "--steps", 4, "--lr", 1, "--flat-steps", 2, "-o", "t.CSV")
    assert (out, err) == ("wrote t.CSV (flat_cos, 4 steps: lr)\n", "")
    # flat at 1 up to step 2 (= 2/4 of the steps), then a cosine from 1 towards 1/div_final = 1e-5
    pos, end = np.arange(4) / 4, 1e-5
    cos_part = end + (1 - end) * (1 + np.cos(np.pi * np.clip((pos - 0.5) / 0.5, 0, 1))) / 2
    np.testing.assert_allclose(load_table(workdir / "t.CSV")["lr"], cos_part, rtol=1e-12)
    assert cos_part.tolist()[:3] == [1.0, 1.0, 1.0]

    out, _ = run(capsys, "table", "one_cycle", "--steps", 10, "--lr-max", "1e-3,1e-2", "--moms", "0.9,0.8,0.7", "-o", "o.npz")
    assert out == "wrote o.npz (one_cycle, 10 steps: lr, mom)\n"
    t = load_table(workdir / "o.npz")
    np.testing.assert_allclose(t["lr"][0], [1e-3 / 25, 1e-2 / 25], rtol=1e-12)  # lr_max/div
    assert np.all(t["mom"][0] == 0.9)
    np.testing.assert_array_equal(t["mom"], schedule_table(one_cycle(np.array([1e-3, 1e-2]), moms=(0.9, 0.8, 0.7)), 10)["mom"])
    out, _ = run(capsys, "table", "one_cycle", "--steps", 3, "--lr-max", 1, "--moms", "none", "-o", "n.npz")
    assert out == "wrote n.npz (one_cycle, 3 steps: lr)\n"

    out, _ = run(capsys, "table", "sgdr", "--steps", 70, "--n-cycles", 3, "--cycle-len", 1, "--lr-max", 0.1, "-o", "s.csv")
    assert out == "wrote s.csv (sgdr, 70 steps: lr, n_epoch=7)\n"  # 1 + 2 + 4 epochs
    assert load_table(workdir / "s.csv")["lr"][[0, 10, 30]].tolist() == [0.1, 0.1, 0.1]  # each cycle's peak
    assert sorted(p.name for p in workdir.iterdir()) == ["n.npz", "o.npz", "s.csv", "t.CSV"]


@pytest.mark.parametrize(
    "policy,opts,column",
    [
        ("lr_range", ["--start-lr", 0, "--end-lr", 1, "--mode", "linear"], [0, 0.25, 0.5, 0.75]),
        ("lr_range", ["--start-lr", 1, "--end-lr", 16], [1, 2, 4, 8]),  # exp: the default mode
        ("wsd", ["--lr-max", 2, "--warmup-steps", 2, "--decay-pct", 0.25, "--decay", "linear"], [0, 1, 2, 2]),
        ("wsd", ["--lr-max", 2, "--warmup-steps", 4, "--decay-steps", 0], [0, 0.5, 1, 1.5]),  # a phase may be all steps
        ("warmup_cosine", ["--lr-max", 4, "--warmup-steps", 2, "--warmup-start", 2], [2, 3, 4, 2]),
        ("one_cycle", ["--lr-max", 25, "--warmup-steps", 0, "--div-final", 5], 5 + 20 * (1 + np.cos(np.pi * np.arange(4) / 4)) / 2),
    ],
)  # fmt: skip
def test_table_to_stdout_closed_form(capsys, workdir, policy, opts, column):
    out, err = run(capsys, "table", policy, "--steps", 4, *opts, "-o", "-")
    lines = out.splitlines()
    assert err == "" and len(lines) == 5 and lines[0].startswith("step,pos,lr,") and list(workdir.iterdir()) == []
    (workdir / "t.csv").write_text(out)
    np.testing.assert_allclose(load_table(workdir / "t.csv")["lr"], column, rtol=1e-12, atol=1e-15)


def test_table_stdout_is_the_csv_text(capsys, workdir):
    out, _ = run(capsys, "table", "flat_cos", "--steps", 4, "--lr", 1, "-o", "-")
    assert out == "step,pos,lr,n_steps,rows_left\n0,0.0,1.0,4,3\n1,0.25,1.0,4,2\n2,0.5,1.0,4,1\n3,0.75,1.0,4,0\n"


PE = "(see --help)\n"


@pytest.mark.parametrize(
    "args,err",
    [
        (["table", "wsd", "--steps", 4, "--lr-max", 1, "--warmup-steps", 5, "--decay-pct", 0, "-o", "t.csv"],
         f"schedcore table wsd: error: --warmup-steps 5 is more than --steps 4 {PE}"),
        (["table", "flat_cos", "--steps", 4, "--lr", 1, "--flat-steps", 9, "-o", "t.csv"],
         f"schedcore table flat_cos: error: --flat-steps 9 is more than --steps 4 {PE}"),
        (["table", "wsd", "--steps", 4, "--lr-max", 1, "--warmup-steps", 3, "--decay-steps", 2, "-o", "t.csv"],
         f"schedcore table wsd: error: warmup_pct + decay_pct must be <= 1; got 0.75 + 0.5 {PE}"),
        (["plot", "wsd", "--steps", 4, "--lr-max", 1, "--warmup-steps", 5, "--decay-pct", 0, "-o", "t.png"],
         f"schedcore plot wsd: error: --warmup-steps 5 is more than --steps 4 {PE}"),
        (["table", "one_cycle", "--steps", 4, "--lr-max", 1, "--moms", "0.9,0.8", "-o", "t.csv"],
         f"schedcore table one_cycle: error: moms must be three values (start, middle, end); got (0.9, 0.8) {PE}"),
        (["table", "one_cycle", "--steps", 4, "--lr-max", 1, "--moms", "0.9", "-o", "t.csv"],
         f"schedcore table one_cycle: error: moms must be three values (start, middle, end); got (0.9,) {PE}"),
        (["table", "one_cycle", "--steps", 4, "--lr-max", 1, "-o", "t.txt"],
         f"schedcore table one_cycle: error: -o t.txt: the table file must end in .npz or .csv (or be - for stdout) {PE}"),
        (["table", "one_cycle", "--steps", 4, "--lr-max", 1, "--mode", "x", "-o", "t.csv"],
         f"schedcore: error: unrecognized arguments: --mode x {PE}"),
        (["table", "one_cycle", "--lr-max", 1, "-o", "t.csv"],
         f"schedcore table one_cycle: error: the following arguments are required: --steps {PE}"),
        (["table", "one_cycle", "--steps", 4, "--lr-max", 1],
         f"schedcore table one_cycle: error: the following arguments are required: -o/--out {PE}"),
        (["plot", "one_cycle", "--steps", 4, "--lr-max", 1],
         f"schedcore plot one_cycle: error: the following arguments are required: -o/--out {PE}"),
        (["table", "sgdr", "--steps", 4, "--lr-max", 1, "--n-cycles", 1, "-o", "t.csv"],
         f"schedcore table sgdr: error: the following arguments are required: --cycle-len {PE}"),
        (["table", "warmup_cosine", "--steps", 4, "--lr-max", 1, "-o", "t.csv"],
         f"schedcore table warmup_cosine: error: one of the arguments --warmup-pct --warmup-steps is required {PE}"),
        (["table", "wsd", "--steps", 4, "--lr-max", 1, "--warmup-pct", 0, "-o", "t.csv"],
         f"schedcore table wsd: error: one of the arguments --decay-pct --decay-steps is required {PE}"),
        (["table", "one_cycle", "--steps", 4, "--lr-max", 1, "--pct-start", 0.5, "--warmup-steps", 1, "-o", "t.csv"],
         f"schedcore table one_cycle: error: argument --warmup-steps: not allowed with argument --pct-start {PE}"),
        (["table", "one_cycle", "--steps", 4, "--lr-max", 1, "--n-groups", 2, "-o", "t.csv", "--steps", 0],
         f"schedcore table one_cycle: error: argument --steps: expected an integer >= 1; got '0' {PE}"),
        (["table", "one_cycle", "--steps", 4, "--lr-max", "1,x", "-o", "t.csv"],
         f"schedcore table one_cycle: error: argument --lr-max: not a number or comma-separated numbers: '1,x' {PE}"),
        (["plot", "one_cycle", "--steps", 4, "--lr-max", 1, "-o", "-"],
         f"schedcore plot one_cycle: error: -o -: only tables go to stdout; give the figure a file name (.png, .pdf, .svg) {PE}"),
        (["plot", "x.csv", "-o", "-"],
         f"schedcore plot: error: -o -: only tables go to stdout; give the figure a file name (.png, .pdf, .svg) {PE}"),
        (["suggest", "x.csv", "--methods", ","],
         f"schedcore suggest: error: argument --methods: unknown method(s) ','; choose from valley,slide,minimum,steep {PE}"),
        ([], f"schedcore: error: the following arguments are required: {{suggest,table,plot}} {PE}"),
        (["plot"], f"schedcore plot: error: the following arguments are required: POLICY {PE}"),
    ],
)  # fmt: skip
def test_bad_arguments_exit_2_with_this_line(capsys, workdir, figures, args, err):
    out, got = run(capsys, *args, code=2)
    assert (out, got) == ("", err) and list(workdir.iterdir()) == [] and figures == []


def test_policy_errors_exit_2(capsys, workdir):
    _, err = run(capsys, "table", "one_cycle", "--steps", 4, "--lr-max", "1", "--pct-start", 2, "-o", "t.csv", code=2)
    assert err.startswith("schedcore table one_cycle: error: pct_start") and err.endswith(f" {PE}") and err.count("\n") == 1


# ----------------------------------------------------------------------------- output folders


@pytest.mark.parametrize(
    "args",
    [
        ["table", "flat_cos", "--steps", 2, "--lr", 1, "-o", "{out}.csv"],
        ["plot", "flat_cos", "--steps", 2, "--lr", 1, "-o", "{out}.png"],
        ["plot", "c.csv", "-o", "{out}.png"],
        ["suggest", "c.csv", "--plot", "{out}.png"],
    ],
)
def test_output_folders(capsys, workdir, figures, args):
    save_curve(workdir / "c.csv", [1e-3, 1e-2, 1e-1], [2.0, 1.0, 3.0])
    first = [str(a).format(out="a/b/f") for a in args]
    _, err = run(capsys, *first, code=1)
    ext = first[-1][-4:]
    assert err == f"schedcore: error: a/b/f{ext}: the folder a/b does not exist (add --parents to create it)\n"
    (workdir / "x").write_text("")
    for parents in ([], ["--parents"]):
        _, err = run(capsys, *[str(a).format(out="x/f") for a in args], *parents, code=1)
        assert err == f"schedcore: error: x/f{ext}: x is not a folder\n"
    assert figures == [] and sorted(p.name for p in workdir.iterdir()) == ["c.csv", "x"]
    for _ in range(2):  # --parents is also fine where the folders exist
        out, err = run(capsys, *first, "--parents")
        assert (workdir / f"a/b/f{ext}").is_file() and f"wrote a/b/f{ext}" in out and err == ""
    assert all(f.closed for f in figures)


# ---------------------------------------------------------------------------------------- plot


def test_plot_policy(capsys, workdir, figures):
    out, err = run(capsys, "plot", "sgdr", "--steps", 70, "--n-cycles", 3, "--cycle-len", 1, "--lr-max", 0.1, "-o", "s.png")
    assert (out, err) == ("wrote s.png\n", "")
    (fig,) = figures
    assert fig.kind == "schedules" and fig.kwargs == {"title": "sgdr (70 steps, n_epoch=7)"}
    np.testing.assert_array_equal(fig.args[0]["lr"], load_table_of(capsys, workdir, "sgdr", "--n-cycles", 3, "--cycle-len", 1, "--lr-max", 0.1)["lr"])
    assert [a.scale for a in fig.axes] == ["linear", "linear"] and fig.saved == Path("s.png") and fig.closed
    out, _ = run(capsys, "plot", "one_cycle", "--steps", 5, "--lr-max", 1, "--log-y", "-o", "o.svg")
    assert out == "wrote o.svg\n"
    assert figures[1].kwargs == {"title": "one_cycle (5 steps)"} and [a.scale for a in figures[1].axes] == ["log", "log"]
    assert figures[1].args[0].rows == 5 and figures[1].closed
    _, err = run(capsys, "plot", "one_cycle", "--steps", 5, "--lr-max", 1, "-o", "o.nope", code=2)
    assert err == f"schedcore plot one_cycle: error: o.nope: unknown figure format '.nope' {PE}" and figures[2].closed


def load_table_of(capsys, workdir, policy, *opts):
    run(capsys, "table", policy, "--steps", 70, *opts, "-o", "ref.npz")
    return load_table(workdir / "ref.npz")


def test_plot_saved_files(capsys, workdir, figures):
    save_table(schedule_table(flat_cos(1.0), 8), workdir / "t.npz")
    lrs, losses = [1e-3, 1e-2, 1e-1], [2.0, 1.0, 3.0]
    save_curve(workdir / "c.json", lrs, losses)
    (workdir / "nosuffix").write_bytes((workdir / "t.npz").read_bytes())
    out, err = run(capsys, "plot", "t.npz", "c.json")
    assert (out, err) == ("wrote t.png\nwrote c.png\n", "")
    table_fig, curve_fig = figures
    assert table_fig.kind == "schedules" and table_fig.kwargs == {"title": "t.npz (8 steps)"} and table_fig.args[0].rows == 8
    assert curve_fig.kind == "lr_find" and curve_fig.kwargs == {"skip_end": 0, "title": "c.json"}
    assert [np.asarray(a).tolist() for a in curve_fig.args] == [lrs, losses]
    assert [f.saved for f in figures] == [Path("t.png"), Path("c.png")] and all(f.closed for f in figures)
    assert [a.scale for f in figures for a in f.axes] == ["linear"] * 4

    out, _ = run(capsys, "plot", "t.npz", "c.json", "-o", "figs/p.pdf", "--parents", "--log-y")
    assert out == "wrote figs/p_0_t.pdf\nwrote figs/p_1_c.pdf\n"
    assert [a.scale for f in figures[2:] for a in f.axes] == ["log"] * 4
    out, _ = run(capsys, "plot", "c.json", "-o", "one.svg")
    assert out == "wrote one.svg\n"
    _, err = run(capsys, "plot", "c.json", "-o", "one.nope", code=2)
    assert err == f"schedcore plot: error: one.nope: unknown figure format '.nope' {PE}" and figures[-1].closed
    _, err = run(capsys, "plot", "nosuffix", code=1)  # an existing file without a suffix is a file, not a policy
    assert err == (
        "schedcore: error: nosuffix: neither a schedule table (unknown table format ''; use .npz or .csv) "
        "nor a loss curve (bad __meta__ entry (not JSON))\n"
    )


def test_plot_file_errors(capsys, workdir, figures):
    (workdir / "notes.txt").write_text("hello\n")
    _, err = run(capsys, "plot", "notes.txt", code=1)
    assert err.startswith("schedcore: error: notes.txt: neither a schedule table (") and ") nor a loss curve (" in err
    assert "notes.txt: notes.txt" not in err and err.endswith(")\n") and err.count("\n") == 1
    _, err = run(capsys, "plot", "missing.csv", code=1)
    assert err == "schedcore: error: missing.csv: no such table file\n"
    _, err = run(capsys, "plot", "missing.csv", "-o", "m.gif", code=1)
    assert err == "schedcore: error: missing.csv: no such table file\n" and figures == []


@pytest.mark.parametrize(
    "argv,files",
    [
        (["plot", "x.npz"], True),
        (["plot", "x.npz", "-o", "y.png"], True),
        (["plot", "exists"], True),
        (["plot", "missing"], False),
        (["plot", "one_cycle"], False),
        (["plot", "one_cycle.npz"], True),
        (["plot", "-h", "x.npz"], False),
        (["plot", "--out=x.png"], False),
        (["plot", "one_cycle", "-o", "x.png"], False),
        (["plot"], False),
        ([], False),
        (["table", "x.npz"], False),
        (["x.npz", "plot"], False),
        (["plot", "exists", "x.npz"], True),
        (["plot", "missing", "x.npz"], False),
    ],
)
def test_plots_files(workdir, argv, files):
    for name in ("exists", "one_cycle"):  # a policy's name is the policy, even where a file has that name
        (workdir / name).write_text("")
    assert _plots_files(argv) is files


# ------------------------------------------------------------------------------------- suggest


@pytest.fixture
def curves(workdir):
    """lr_find.csv: 100 points, num_it=100; flat.json: 20 never-decreasing points, no num_it;
    history.json: pytorch-lr-finder's layout (no num_it)."""
    lrs = SchedExp(1e-7, 10)(np.arange(100) / 100)
    t = np.log10(lrs)
    losses = smooth_losses(2.5 - 2 / (1 + np.exp(-(t + 4))) + np.exp(2.5 * (t - 0.3)))
    save_curve(workdir / "lr_find.csv", lrs, losses, num_it=100)
    save_curve(workdir / "flat.json", lrs[:20], np.linspace(1, 2, 20))
    (workdir / "history.json").write_text(json.dumps({"lr": lrs.tolist(), "loss": losses.tolist()}))
    return lrs, losses


def expected_row(path, lrs, losses, num_it, funcs=FUNCS, trim=True):
    if trim:
        lrs, losses = trim_curve(lrs, losses, num_it)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SuggestionWarning)
        values, points = suggest_lrs(lrs, losses, num_it, funcs, trim=False, return_points=True)
    d = diagnose(lrs, losses, funcs)

    def num(v):
        return None if np.isnan(v) else float(v)

    return {
        "curve": path,
        "points": len(lrs),
        "num_it": num_it,
        "suggestions": {k: num(v) for k, v in values._asdict().items()},
        "marks": {k: [num(p[0]), num(p[1])] for k, p in points._asdict().items()},
        "diagnostics": str(d),
        "problems": list(d.problems),
        "unusable": d.unusable,
        "warnings": list(d.warnings),
    }


def test_suggest_table(capsys, curves):
    lrs, losses = curves
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the diagnostics say what the suggesters would warn about
        out, err = run(capsys, "suggest", "lr_find.csv", "flat.json")
    good, flat = expected_row("lr_find.csv", lrs, losses, 100), expected_row("flat.json", lrs[:20], np.linspace(1, 2, 20), 20)
    assert good["points"] == 85 and flat["points"] == 13 and flat["suggestions"]["slide"] is None
    assert good["diagnostics"] == "ok" and flat["diagnostics"] != "ok"

    def cell(v):
        return "-" if v is None else f"{v:.2e}"

    def line(name, points, values, diagnostics):
        cells = [f"{name:11}", f"{points:6}", *(f"{v:8}" for v in values), diagnostics]
        return "  ".join(cells).rstrip()

    rows = [line(r["curve"], str(r["points"]), [cell(v) for v in r["suggestions"].values()], r["diagnostics"]) for r in (good, flat)]
    assert out.splitlines() == [line("curve", "points", ["valley", "slide", "minimum", "steep"], "diagnostics"), *rows]
    assert not any(x.endswith(" ") for x in out.splitlines()) and err == ""
    assert rows[0].split()[-1] == "ok" and "  -  " in rows[1]


def test_suggest_json(capsys, curves):
    lrs, losses = curves
    out, _ = run(capsys, "suggest", "lr_find.csv", "history.json", "flat.json", "--json", "--methods", " minimum, valley ,")
    funcs = (minimum, valley)
    assert json.loads(out) == [
        expected_row("lr_find.csv", lrs, losses, 100, funcs),
        expected_row("history.json", lrs, losses, 100, funcs),  # no num_it in the file: its length
        expected_row("flat.json", lrs[:20], np.linspace(1, 2, 20), 20, funcs),
    ]
    assert list(json.loads(out)[0]["suggestions"]) == ["minimum", "valley"]
    assert json.loads(out)[0]["points"] == 85 and json.loads(out)[2]["problems"] == []
    out, _ = run(capsys, "suggest", "lr_find.csv", "--json", "--num-it", 50)
    assert out.startswith('[\n  {\n    "curve": "lr_find.csv",\n    "points": 90,\n') and out.endswith("\n  }\n]\n")
    (row,) = json.loads(out)
    assert row == expected_row("lr_find.csv", lrs, losses, 50) and row["points"] == 90
    out, _ = run(capsys, "suggest", "flat.json", "--json", "--no-trim", "--methods", "slide")
    (row,) = json.loads(out)
    assert row == expected_row("flat.json", lrs[:20], np.linspace(1, 2, 20), 20, (slide,), trim=False) and row["points"] == 20


def test_suggest_plots(capsys, curves, figures):
    lrs, losses = curves
    out, err = run(capsys, "suggest", "lr_find.csv", "flat.json", "--plot", "figs/p.png", "--parents")
    good, flat = expected_row("lr_find.csv", lrs, losses, 100), expected_row("flat.json", lrs[:20], np.linspace(1, 2, 20), 20)
    assert out.splitlines()[3:] == ["wrote figs/p_0_lr_find.png", "wrote figs/p_1_flat.png"] and err == ""
    assert len(out.splitlines()) == 5
    for fig, row, (x, y) in zip(figures, (good, flat), ((lrs, losses), (lrs[:20], np.linspace(1, 2, 20))), strict=True):
        usable = [k for k, v in row["suggestions"].items() if v is not None]
        values = {k: row["suggestions"][k] for k in usable}
        points = {k: tuple(row["marks"][k]) for k in usable}
        assert fig.kind == "lr_find" and fig.args[2] == (values, points) and fig.closed
        assert fig.kwargs == {"skip_end": 5, "title": row["curve"]}
        np.testing.assert_array_equal(fig.args[0], x)
        np.testing.assert_array_equal(fig.args[1], y)
    assert "slide" not in figures[1].args[2][0] and "slide" in figures[0].args[2][0]
    assert [f.saved for f in figures] == [Path("figs/p_0_lr_find.png"), Path("figs/p_1_flat.png")]

    out, _ = run(capsys, "suggest", "lr_find.csv", "--plot", "one.png", "--json", "--no-trim")
    (row,) = json.loads(out)
    assert row["plot"] == "one.png" and figures[2].saved == Path("one.png") and figures[2].kwargs["skip_end"] == 0
    assert {k: v for k, v in row.items() if k != "plot"} == expected_row("lr_find.csv", lrs, losses, 100, trim=False)
    out, _ = run(capsys, "suggest", "lr_find.csv", "--plot", "two.svg")
    assert out.splitlines()[2:] == ["wrote two.svg"] and figures[3].saved == Path("two.svg")
    # a figure format that cannot be written is a bad argument, as for ``plot``
    out, err = run(capsys, "suggest", "lr_find.csv", "--plot", "three.nope", code=2)
    assert (out, err) == ("", f"schedcore suggest: error: three.nope: unknown figure format '.nope' {PE}")
    assert figures[4].closed and [a.scale for a in figures[3].axes] == ["linear", "linear"]


def test_suggest_passes_num_it_and_keeps_other_warnings(capsys, curves, monkeypatch):
    """Methods get the test's num_it (fastai's ``f(lrs, losses, num_it)``); only the suggesters'
    own warnings are silenced (the diagnostics explain those), any other warning still shows."""

    def echo_num_it(lrs, losses, num_it):
        return float(num_it), (lrs[0], losses[0])

    def warning_suggest_lrs(*args, **kwargs):
        warnings.warn("something else", UserWarning, stacklevel=2)
        return suggest_lrs(*args, **kwargs)

    monkeypatch.setitem(schedcore.cli.METHODS, "echo_num_it", echo_num_it)
    monkeypatch.setattr(schedcore.cli, "suggest_lrs", warning_suggest_lrs)
    with pytest.warns(UserWarning, match="something else"):
        out, _ = run(capsys, "suggest", "lr_find.csv", "flat.json", "--num-it", 60, "--methods", "echo_num_it,slide", "--json")
    assert [(r["num_it"], r["suggestions"]["echo_num_it"]) for r in json.loads(out)] == [(60, 60.0), (60, 60.0)]


def test_suggest_errors(capsys, curves, figures):
    _, err = run(capsys, "suggest", "lr_find.csv", "missing.csv", code=1)
    assert err == "schedcore: error: missing.csv: no such curve file\n"
    (Path("bad.json")).write_text('{"lr": [1, 2]}')
    out, err = run(capsys, "suggest", "bad.json", "--plot", "b.png", code=1)
    assert out == "" and err == "schedcore: error: bad.json: no 'loss' column (found keys ['lr'])\n" and figures == []


# ------------------------------------------------------------------------- errors in main


@pytest.mark.parametrize(
    "error,err",
    [
        (FileNotFoundError(2, "No such file or directory", "gone.csv"), "gone.csv: no such file"),
        (FileNotFoundError("no file at all"), "no file at all"),
        (ValueError("bad value"), "bad value"),
        (OSError("disk full"), "disk full"),
        (ImportError("no matplotlib"), "no matplotlib"),
        (OverflowError("too big"), "OverflowError: too big"),
        (RecursionError("too deep"), "RecursionError: too deep"),
        (TypeError("not a table"), "TypeError: not a table"),
    ],
)
def test_errors_are_one_line_status_1(capsys, monkeypatch, workdir, error, err):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(schedcore.cli, "schedule_table", fail)
    out, got = run(capsys, "table", "flat_cos", "--steps", 2, "--lr", 1, "-o", "t.csv", code=1)
    assert (out, got) == ("", f"schedcore: error: {err}\n")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open file descriptors in /proc")
def test_closed_pipe_returns_0_and_silences_stdout(monkeypatch, tmp_path):
    """A reader that went away: status 0, stdout pointed at /dev/null (no descriptor leaked)."""

    def broken(*args, **kwargs):
        raise BrokenPipeError

    monkeypatch.setattr(schedcore.cli, "table_csv_lines", broken)
    with open(tmp_path / "stdout", "w") as stdout:
        monkeypatch.setattr(sys, "stdout", stdout)
        fds = len(os.listdir("/proc/self/fd"))
        assert main(["table", "flat_cos", "--steps", "2", "--lr", "1", "-o", "-"]) == 0
        assert len(os.listdir("/proc/self/fd")) == fds
        assert os.path.samestat(os.fstat(stdout.fileno()), os.stat(os.devnull))
        os.write(stdout.fileno(), b"gone")  # writable: it is /dev/null
    assert (tmp_path / "stdout").read_text() == ""


def test_closed_pipe_at_flush(monkeypatch):
    """The closed pipe shows when the output is flushed; stdout without a descriptor is left as is."""

    class Pipe:
        def __init__(self):
            self.text = []

        def writelines(self, lines):
            self.text.extend(lines)

        def flush(self):
            raise BrokenPipeError

        def fileno(self):
            raise ValueError("no descriptor")

    pipe = Pipe()
    monkeypatch.setattr(sys, "stdout", pipe)
    assert main(["table", "flat_cos", "--steps", "2", "--lr", "1", "-o", "-"]) == 0
    assert "".join(pipe.text) == "step,pos,lr,n_steps,rows_left\n0,0.0,1.0,2,1\n1,0.5,1.0,2,0\n"


# ---------------------------------------------------------------------------- argument types


@pytest.mark.parametrize(
    "text,value",
    [("none", None), (" NONE ", None), ("3", 3), ("+3", 3), ("-3", -3), (" 7 ", 7), ("3.5", 3.5), ("1e-3", 1e-3),
     ("-2.5", -2.5), ("inf", np.inf)],
)  # fmt: skip
def test_value_scalars(text, value):
    got = _value(text)
    assert got == value and type(got) is type(value)


def test_value_arrays_and_errors():
    got = _value("1, 2.5,-3")
    assert isinstance(got, np.ndarray) and got.dtype == float and got.tolist() == [1.0, 2.5, -3.0]
    for bad in ("abc", "1,x", "", "1,,2"):
        with pytest.raises(Exception, match=re.escape(f"not a number or comma-separated numbers: {bad.strip()!r}")):
            _value(bad)


@pytest.mark.parametrize("text,n", [("1", 1), ("25", 25), (" 3 ", 3)])
def test_positive_int(text, n):
    assert _positive_int(text) == n


@pytest.mark.parametrize("text", ["0", "-1", "x", "1.5", ""])
def test_positive_int_errors(text):
    with pytest.raises(Exception, match=re.escape(f"expected an integer >= 1; got {text!r}")):
        _positive_int(text)


@pytest.mark.parametrize("text,n", [("0", 0), ("1", 1), ("12", 12)])
def test_count(text, n):
    assert _count(text) == n


@pytest.mark.parametrize("text", ["-1", "x", "2.5", "-5"])
def test_count_errors(text):
    with pytest.raises(Exception, match=re.escape(f"expected a whole number of steps >= 0; got {text!r}")):
        _count(text)


def test_methods():
    assert _methods("valley") == ["valley"]
    assert _methods(" steep , valley ,,") == ["steep", "valley"]
    for bad, shown in (("foo", "['foo']"), ("valley,foo,bar", "['foo', 'bar']"), ("", "''"), (" , ", "' , '")):
        with pytest.raises(Exception, match=re.escape(f"unknown method(s) {shown}; choose from valley,slide,minimum,steep")):
            _methods(bad)


def test_plain_and_default():
    assert _plain("See :func:`~schedcore.one_cycle` and :class:`Foo`, ``x`` or `y`.") == "See schedcore.one_cycle and Foo, x or y."
    assert [_default(v) for v in (None, (0.95, 0.85), [1, 2], 25.0, "cos", 0)] == ["none", "0.95,0.85", "1,2", "25.0", "cos", "0"]


# ---------------------------------------------------------------------------------------- help


def help_text(capsys, monkeypatch, *args):
    monkeypatch.setenv("COLUMNS", "250")
    out, err = run(capsys, *args, "--help")
    assert err == ""
    return out


def option_entries(text: str) -> list[str]:
    """The option lines of an argparse help text, whitespace normalised (``-o OUT, --out OUT``)."""
    section = text.split("options:\n", 1)[1].split("\n\n", 1)[0]
    entries = [" ".join(e.split()) for e in re.split(r"\n(?=  -)", section)]
    return [re.sub(r"^-o, --out OUT", "-o OUT, --out OUT", e) for e in entries]  # Python >= 3.13 writes that


HELP_ENTRY = "-h, --help show this help message and exit"
TOP_HELP = """usage: schedcore [-h] [--version] {suggest,table,plot} ...

Hyper-parameter schedules and learning-rate suggestions.
"""
TOP_COMMANDS = """
commands:
  {suggest,table,plot}
    suggest             suggest learning rates from LR-range-test curve files
    table               write a schedule table (.npz or .csv, or CSV on stdout)
    plot                plot a schedule (.png/.pdf/.svg), or a saved table or curve: schedcore plot FILE --help
"""
SUGGEST_OPTIONS = [
    HELP_ENTRY,
    "--methods METHODS comma-separated suggesters (names; default: valley,slide,minimum,steep)",
    "--num-it NUM_IT iterations the test asked for (iterations; default: from the file, else its length)",
    "--no-trim use every point, skipping lr_find's [num_it//10 : -5] trim (flag; default: off)",
    "--plot OUT.png plot the curve and suggestions, one file per curve if several (file; default: no plot)",
    "--parents create the --plot file's missing folders (flag; default: off, a missing folder is an error)",
    "--json print JSON instead of a table (flag; default: off)",
]
PLOT_FILE_OPTIONS = [
    HELP_ENTRY,
    "-o OUT, --out OUT figure file: .png, .pdf, .svg, ...; with several FILEs, OUT_i_FILE.ext each (file; default: FILE.png beside FILE)",
    "--log-y logarithmic value axes (flag; default: off)",
    "--parents create the output file's missing folders (flag; default: off, a missing folder is an error)",
]


def test_help_of_the_commands(capsys, monkeypatch):
    text = help_text(capsys, monkeypatch)
    assert text.startswith(TOP_HELP) and text.endswith(TOP_COMMANDS)
    assert option_entries(text) == [HELP_ENTRY, "--version show program's version number and exit"]

    text = help_text(capsys, monkeypatch, "suggest")
    assert text.startswith(
        "usage: schedcore suggest [-h] [--methods METHODS] [--num-it NUM_IT] [--no-trim] [--plot OUT.png] [--parents] [--json] CURVE [CURVE ...]\n\n"
        "Suggest learning rates from saved LR-range-test curves (ours, pytorch-lr-finder's, Lightning's): one row per curve, "
        "one column per method, plus diagnostics.\n\npositional arguments:\n  CURVE              curve files (.csv, .json, .npz)\n"
    )
    assert option_entries(text) == SUGGEST_OPTIONS
    assert text.endswith(
        "\n\nexample:\n  schedcore suggest lr_find.csv other_run.json --methods valley,minimum --plot lr_find.png\n"
        "  schedcore suggest history.json --json     # pytorch-lr-finder / Lightning files work too\n"
    )

    text = help_text(capsys, monkeypatch, "plot", "x.csv")
    assert text.startswith(
        "usage: schedcore plot [-h] [-o OUT] [--log-y] [--parents] FILE [FILE ...]\n\n"
        "Plot saved schedule tables (.npz/.csv) and LR-range-test curves (.csv/.json/.npz), one figure per file.\n\n"
        "positional arguments:\n  FILE               table or curve files\n"
    )
    assert option_entries(text) == PLOT_FILE_OPTIONS
    assert text.endswith(
        "\n\nexample:\n  schedcore plot one_cycle.npz                # writes one_cycle.png\n"
        "  schedcore plot lr_find.csv --log-y -o figures/lr_find.svg --parents\n"
    )


SUMMARIES = {
    "one_cycle": "1cycle: lr lr_max/div -> lr_max -> lr_max/div_final, mom moms[0] -> [1] -> [2].",
    "flat_cos": "Flat then cosine: lr for pct_start of training, then cosine to lr/div_final.",
    "sgdr": "SGDR (warm restarts): n_cycles cosines from a peak to min_lr.",
    "lr_range": 'LR range test: start_lr -> end_lr, exponentially (mode="exp") or linearly.',
    "warmup_cosine": "Linear warmup from warmup_start to lr_max over warmup_pct, then cosine to min_lr.",
    "wsd": "Warmup-stable-decay: linear warmup, a flat lr_max plateau, then a decay to min_lr.",
}
EXAMPLES = {
    "table": """example:
  schedcore table one_cycle --steps 1000 --lr-max 1e-3 -o one_cycle.npz
  schedcore table wsd --steps 1000 --lr-max 1e-3 --warmup-steps 50 --decay-steps 200 -o wsd.csv
  schedcore table sgdr --steps 700 --n-cycles 3 --cycle-len 1 --lr-max 0.1 -o - | head -3
  schedcore table one_cycle --help          # the policy's options
""",
    "plot": """example:
  schedcore plot one_cycle --steps 1000 --lr-max 1e-3 -o one_cycle.png
  schedcore plot wsd --steps 1000 --lr-max 1e-3 --warmup-pct 0.05 --decay-pct 0.2 -o wsd.png
  schedcore plot one_cycle.npz lr_find.csv --log-y   # saved tables and curves: FILE.png each
""",
}
WHAT = {
    "table": "write a schedule table (.npz or .csv, or CSV on stdout).",
    "plot": "plot a schedule (.png/.pdf/.svg), or a saved table or curve: schedcore plot FILE --help.",
}


@pytest.mark.parametrize("command", ["table", "plot"])
def test_help_of_table_and_plot(capsys, monkeypatch, command):
    text = help_text(capsys, monkeypatch, command)
    policies = "".join(
        f"    {p:<12} {s}\n" if len(p) <= 12 else f"    {p}\n{'':17}{s}\n" for p, s in SUMMARIES.items()
    )
    assert text == (
        f"usage: schedcore {command} [-h] POLICY ...\n\n{WHAT[command]}\n\noptions:\n"
        f"  -h, --help     show this help message and exit\n\npolicies:\n  POLICY\n{policies}\n{EXAMPLES[command]}"
    )


LR_MAX = "--lr-max LR_MAX peak learning rate; a,b,c gives one per parameter group (learning rate; required)"
N_GROUPS = "--n-groups N_GROUPS number of parameter groups; a,b,c values must have this many (count; default: none)"
MIN_LR = "--min-lr MIN_LR learning rate the decay ends at (learning rate; default: 0.0)"
WARMUP = [
    "--warmup-pct WARMUP_PCT length of the linear warmup (fraction of --steps, 0 to 1; required unless --warmup-steps)",
    "--warmup-steps N length of the linear warmup, instead of --warmup-pct (steps; required unless --warmup-pct)",
]
WARMUP_START = "--warmup-start WARMUP_START learning rate at the first warmup step (learning rate; default: 0.0)"
POLICY_OPTIONS = {
    "one_cycle": [
        LR_MAX,
        "--div DIV the first step's lr is lr_max/div (ratio; default: 25.0)",
        "--div-final DIV_FINAL the lr decays towards lr_max/div_final (ratio; default: 100000.0)",
        "--pct-start PCT_START length of the rising phase (fraction of --steps, 0 to 1; default: 0.25)",
        "--warmup-steps N length of the rising phase, instead of --pct-start (steps; default: from --pct-start)",
        "--moms MOMS momentum at start,turn,end (three values); none leaves momentum alone (momentum; default: 0.95,0.85,0.95)",
        N_GROUPS,
    ],
    "flat_cos": [
        "--lr LR learning rate of the flat part; a,b,c gives one per parameter group (learning rate; required)",
        "--div-final DIV_FINAL the lr decays towards lr/div_final (ratio; default: 100000.0)",
        "--pct-start PCT_START length of the flat phase (fraction of --steps, 0 to 1; default: 0.75)",
        "--flat-steps N length of the flat phase, instead of --pct-start (steps; default: from --pct-start)",
        N_GROUPS,
    ],
    "sgdr": [
        "--n-cycles N_CYCLES number of cosine cycles (count; required)",
        "--cycle-len CYCLE_LEN length of the first cycle (epochs; required)",
        LR_MAX,
        "--cycle-mult CYCLE_MULT each cycle is this many times longer than the one before (ratio; default: 2)",
        MIN_LR,
        "--cycle-decay CYCLE_DECAY cycle i peaks at lr_max*cycle_decay**i (ratio; default: 1.0)",
        N_GROUPS,
    ],
    "lr_range": [
        "--start-lr START_LR learning rate at the first step (learning rate; default: 1e-07)",
        "--end-lr END_LR learning rate at the end (position 1, never applied) (learning rate; default: 10)",
        "--mode MODE exp (geometric) or linear (choice; default: exp)",
    ],
    "warmup_cosine": [LR_MAX, *WARMUP, MIN_LR, WARMUP_START, N_GROUPS],
    "wsd": [
        LR_MAX,
        *WARMUP,
        "--decay-pct DECAY_PCT length of the final decay (fraction of --steps, 0 to 1; required unless --decay-steps)",
        "--decay-steps N length of the final decay, instead of --decay-pct (steps; required unless --decay-pct)",
        MIN_LR,
        "--decay DECAY shape of the decay: cos, linear or sqrt (choice; default: cos)",
        WARMUP_START,
        N_GROUPS,
    ],
}
COMMAND_OPTIONS = {
    "table": [
        "--steps STEPS number of training steps, one table row each (steps; required)",
        "-o OUT, --out OUT table file: .npz or .csv, or - for CSV on stdout (file; required)",
    ],
    "plot": [
        "--steps STEPS number of training steps, one table row each (steps; required)",
        "-o OUT, --out OUT figure file: .png, .pdf, .svg, ... (file; required)",
        "--log-y logarithmic value axes (flag; default: off)",
    ],
}
PARENTS = "--parents create the output file's missing folders (flag; default: off, a missing folder is an error)"
USAGE_OPTIONS = {
    "one_cycle": "--lr-max LR_MAX [--div DIV] [--div-final DIV_FINAL] [--pct-start PCT_START | --warmup-steps N] [--moms MOMS] [--n-groups N_GROUPS]",
    "flat_cos": "--lr LR [--div-final DIV_FINAL] [--pct-start PCT_START | --flat-steps N] [--n-groups N_GROUPS]",
    "sgdr": "--n-cycles N_CYCLES --cycle-len CYCLE_LEN --lr-max LR_MAX [--cycle-mult CYCLE_MULT] [--min-lr MIN_LR] [--cycle-decay CYCLE_DECAY] [--n-groups N_GROUPS]",
    "lr_range": "[--start-lr START_LR] [--end-lr END_LR] [--mode MODE]",
    "warmup_cosine": "--lr-max LR_MAX (--warmup-pct WARMUP_PCT | --warmup-steps N) [--min-lr MIN_LR] [--warmup-start WARMUP_START] [--n-groups N_GROUPS]",
    "wsd": "--lr-max LR_MAX (--warmup-pct WARMUP_PCT | --warmup-steps N) (--decay-pct DECAY_PCT | --decay-steps N) [--min-lr MIN_LR] [--decay DECAY] [--warmup-start WARMUP_START] [--n-groups N_GROUPS]",
}  # fmt: skip


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("command", ["table", "plot"])
def test_policy_help_states_units_and_defaults(capsys, monkeypatch, command, policy):
    text = help_text(capsys, monkeypatch, command, policy)
    usage, description, rest = text.split("\n\n", 2)
    log_y = " [--log-y]" if command == "plot" else ""
    assert " ".join(usage.split()) == f"usage: schedcore {command} {policy} [-h] --steps STEPS -o OUT{log_y} [--parents] {USAGE_OPTIONS[policy]}"
    assert description == SUMMARIES[policy]
    assert rest.startswith(
        "Options are the policy's keyword arguments; a,b,c gives per-group values or a tuple, none gives None.\n\noptions:\n"
    )
    assert option_entries(text) == [HELP_ENTRY, *COMMAND_OPTIONS[command], PARENTS, *POLICY_OPTIONS[policy]]
    assert text.endswith("\n\n" + EXAMPLES[command])


def test_policy_without_docs(capsys, monkeypatch, workdir):
    """A policy with no docstring and options the CLI has no words for still gets a help line."""

    def toy(level, some_option=2.5):
        return schedcore.SchedLin(level, some_option)

    monkeypatch.setitem(POLICIES, "toy", toy)
    text = help_text(capsys, monkeypatch, "table", "toy")
    assert text.split("\n\n")[1] == (
        "Options are the policy's keyword arguments; a,b,c gives per-group values or a tuple, none gives None."
    )
    assert option_entries(text)[-2:] == ["--level LEVEL level (value; required)", "--some-option SOME_OPTION some option (value; default: 2.5)"]
    assert "\n    toy          toy\n" in help_text(capsys, monkeypatch, "table")  # no summary: its name
    out, _ = run(capsys, "table", "toy", "--steps", 2, "--level", 1, "--some-option", 3, "-o", "-")
    assert out.splitlines()[1:] == ["0,0.0,1.0,2,1", "1,0.5,2.0,2,0"]
