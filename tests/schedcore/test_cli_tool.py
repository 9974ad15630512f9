"""The ``schedcore`` command as a Unix tool, always through a subprocess: --version, step counts,
``plot FILE``, ``-o -``, closed pipes, missing output folders, plain help text."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import schedcore
from schedcore import (
    SchedExp,
    flat_cos,
    load_table,
    one_cycle,
    save_curve,
    save_table,
    schedule_table,
    smooth_losses,
    warmup_cosine,
    wsd,
)
from schedcore.policies import POLICIES

needs_matplotlib = pytest.mark.requires_matplotlib


def schedcore_cli(*args, cwd=None, env=None):
    cmd = [sys.executable, "-m", "schedcore", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)


def test_version():
    out = schedcore_cli("--version")
    assert (out.returncode, out.stdout, out.stderr) == (0, f"schedcore {schedcore.__version__}\n", "")


# ---------------------------------------------------------------------------- absolute step counts


@pytest.mark.parametrize(
    "policy,opts,expected",
    [
        ("wsd", ["--lr-max", 1e-3, "--warmup-steps", 50, "--decay-steps", 200], wsd(1e-3, 50 / 1000, 200 / 1000)),
        ("wsd", ["--lr-max", 1e-3, "--warmup-steps", 50, "--decay-pct", 0.2], wsd(1e-3, 50 / 1000, 0.2)),
        ("one_cycle", ["--lr-max", 1e-2, "--warmup-steps", 300], one_cycle(1e-2, pct_start=0.3)),
        ("flat_cos", ["--lr", 1, "--flat-steps", 600], flat_cos(1, pct_start=0.6)),
        ("warmup_cosine", ["--lr-max", 1, "--warmup-steps", 100], warmup_cosine(1, 0.1)),
    ],
)
def test_phase_lengths_in_steps_equal_the_fractions(tmp_path, policy, opts, expected):
    out = schedcore_cli("table", policy, "--steps", 1000, *opts, "-o", tmp_path / "t.npz")
    assert out.returncode == 0, out.stderr
    got, want = load_table(tmp_path / "t.npz"), schedule_table(expected, 1000)
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def test_warmup_steps_end_exactly_at_that_step(tmp_path):
    """With --warmup-steps W the lr rises on steps 0..W-1 and first reaches lr_max at step W;
    the decay of --decay-steps D starts at step N-D."""
    n, w, d = 1000, 37, 123
    out = schedcore_cli("table", "wsd", "--steps", n, "--lr-max", 2.0, "--warmup-steps", w, "--decay-steps", d, "-o", tmp_path / "t.csv")
    assert out.returncode == 0, out.stderr
    lr = load_table(tmp_path / "t.csv")["lr"]
    np.testing.assert_allclose(lr[:w], 2.0 * np.arange(w) / w, rtol=1e-12)
    assert np.all(lr[w : n - d + 1] == 2.0) and lr[n - d + 1] < 2.0
    out = schedcore_cli("table", "one_cycle", "--steps", 100, "--lr-max", 1, "--warmup-steps", 30, "-o", tmp_path / "o.csv")
    assert out.returncode == 0 and int(np.argmax(load_table(tmp_path / "o.csv")["lr"])) == 30


@pytest.mark.parametrize(
    "opts,reason",
    [
        (["--warmup-steps", 10, "--warmup-pct", 0.1, "--decay-pct", 0.2], "not allowed with argument"),
        (["--warmup-steps", 101, "--decay-pct", 0.2], "--warmup-steps 101 is more than --steps 100"),
        (["--warmup-steps", -1, "--decay-pct", 0.2], "whole number of steps >= 0"),
        (["--warmup-steps", 2.5, "--decay-pct", 0.2], "whole number of steps >= 0"),
        (["--decay-pct", 0.2], "one of the arguments --warmup-pct --warmup-steps is required"),
        (["--warmup-steps", 60, "--decay-steps", 50], "warmup_pct + decay_pct must be <= 1"),
    ],
)
def test_bad_step_counts_exit_2_naming_them(tmp_path, opts, reason):
    out = schedcore_cli("table", "wsd", "--steps", 100, "--lr-max", 1, *opts, "-o", "t.csv", cwd=tmp_path)
    assert out.returncode == 2 and reason in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------- -o - and pipes


def test_table_to_stdout_is_the_csv_file(tmp_path):
    args = ["table", "one_cycle", "--steps", 50, "--lr-max", "1e-3,1e-2"]
    out = schedcore_cli(*args, "-o", "-", cwd=tmp_path)
    assert out.returncode == 0 and out.stderr == ""
    assert schedcore_cli(*args, "-o", "t.csv", cwd=tmp_path).returncode == 0
    assert out.stdout == (tmp_path / "t.csv").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]  # nothing else written
    (tmp_path / "copy.csv").write_text(out.stdout)
    np.testing.assert_array_equal(load_table(tmp_path / "copy.csv")["lr"], schedule_table(one_cycle(np.array([1e-3, 1e-2])), 50)["lr"])


@pytest.fixture
def curve_file(tmp_path):
    n = 100
    lrs = SchedExp(1e-7, 10)(np.arange(n) / n)
    t = np.log10(lrs)
    losses = smooth_losses(2.5 - 2 / (1 + np.exp(-(t + 4))) + np.exp(2.5 * (t - 0.3)))
    return save_curve(tmp_path / "lr_find.json", lrs, losses, num_it=n)


@pytest.mark.parametrize("command", ["suggest", "table"])
def test_a_closed_pipe_ends_quietly_with_status_0(curve_file, command):
    """The reader is gone before the command writes anything: no "Broken pipe", status 0."""
    args = ["suggest", curve_file, "--json"] if command == "suggest" else ["table", "one_cycle", "--steps", 10, "--lr-max", 1, "-o", "-"]
    proc = subprocess.Popen([sys.executable, "-m", "schedcore", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0 and err == b"", err


def test_piping_into_head(tmp_path):
    """More output than a pipe holds, into ``head -1``; the pipeline's status is schedcore's."""
    cmd = f"set -o pipefail; {sys.executable} -m schedcore table one_cycle --steps 200000 --lr-max 1 -o - | head -1"
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stderr == "" and len(out.stdout.splitlines()) == 1, out


# ------------------------------------------------------------------------------- output folders


OUTPUTS = {
    "table": lambda out, curve: ["table", "flat_cos", "--steps", 10, "--lr", 1, "-o", out.with_suffix(".csv")],
    "plot": lambda out, curve: ["plot", "flat_cos", "--steps", 10, "--lr", 1, "-o", out],
    "plot FILE": lambda out, curve: ["plot", curve, "-o", out],
    "suggest --plot": lambda out, curve: ["suggest", curve, "--plot", out],
}


@pytest.mark.parametrize("command", list(OUTPUTS))
def test_missing_output_folder_is_an_error_unless_parents(tmp_path, curve_file, command):
    if command != "table":
        pytest.importorskip("matplotlib")
    missing = tmp_path / "new" / "deeper"
    args = OUTPUTS[command](missing / "out.png", curve_file)
    out = schedcore_cli(*args)
    assert out.returncode == 1 and f"the folder {missing} does not exist" in out.stderr and "--parents" in out.stderr
    assert not (tmp_path / "new").exists()
    out = schedcore_cli(*args, "--parents")
    assert out.returncode == 0, out.stderr
    (written,) = missing.iterdir()
    assert f"wrote {written}" in out.stdout


def test_output_into_a_file_that_is_not_a_folder(tmp_path):
    (tmp_path / "f").write_text("")
    out = schedcore_cli("table", "flat_cos", "--steps", 10, "--lr", 1, "-o", tmp_path / "f" / "t.csv", "--parents")
    assert out.returncode == 1 and "is not a folder" in out.stderr


# ------------------------------------------------------------------------------------ plot FILE

SPY = """
import sys
import schedcore.plot as plot
from schedcore.cli import main
save = plot.save_figure
def spy(fig, path, **kw):
    print("axes", [(ax.get_title() or fig._suptitle.get_text(), ax.get_ylabel(), ax.get_yscale(), len(ax.lines)) for ax in fig.axes])
    return save(fig, path, **kw)
plot.save_figure = spy
sys.exit(main(sys.argv[1:]))
"""


def spy_cli(*args, cwd):
    return subprocess.run([sys.executable, "-c", SPY, *map(str, args)], capture_output=True, text=True, cwd=cwd)


@needs_matplotlib
def test_plot_saved_tables_and_curves(tmp_path, curve_file):
    save_table(schedule_table(one_cycle(1e-2), 100), tmp_path / "oc.npz")
    save_table(schedule_table(wsd(1.0, 0.1, 0.2), 50), tmp_path / "w.csv")
    out = schedcore_cli("plot", "oc.npz", "w.csv", curve_file.name, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["wrote oc.png", "wrote w.png", "wrote lr_find.png"]
    for name in ("oc.png", "w.png", "lr_find.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    out = spy_cli("plot", "oc.npz", "--log-y", "-o", "oc.svg", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["axes [('oc.npz (100 steps)', 'lr', 'log', 1), ('oc.npz (100 steps)', 'mom', 'log', 1)]", "wrote oc.svg"]
    out = spy_cli("plot", curve_file.name, cwd=tmp_path)
    assert out.stdout.splitlines() == ["axes [('lr_find.json', 'Loss', 'linear', 1)]", "wrote lr_find.png"], out.stderr


@needs_matplotlib
def test_plot_policy_log_y(tmp_path):
    out = spy_cli("plot", "one_cycle", "--steps", 20, "--lr-max", 1, "--log-y", "-o", "p.png", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.count("'log'") == 2 and out.stdout.endswith("wrote p.png\n"), out.stderr


@needs_matplotlib
def test_plot_several_files_into_one_name(tmp_path, curve_file):
    save_table(schedule_table(one_cycle(1e-2), 10), tmp_path / "a.npz")
    out = schedcore_cli("plot", "a.npz", curve_file.name, "-o", "figs/p.pdf", "--parents", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["wrote figs/p_0_a.pdf", "wrote figs/p_1_lr_find.pdf"]


def test_plot_file_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    out = schedcore_cli("plot", "notes.txt", cwd=tmp_path)
    assert out.returncode == 1 and "notes.txt: neither a schedule table" in out.stderr and "nor a loss curve" in out.stderr
    out = schedcore_cli("plot", "missing.csv", cwd=tmp_path)
    assert out.returncode == 1 and "missing.csv" in out.stderr and "no such" in out.stderr
    out = schedcore_cli("plot", "notes.txt", "-o", "-", cwd=tmp_path)
    assert out.returncode == 2 and "only tables go to stdout" in out.stderr
    out = schedcore_cli("plot", "one_cyle", cwd=tmp_path)  # a typo'd policy is not taken for a file
    assert out.returncode == 2 and "invalid choice: 'one_cyle'" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


# ---------------------------------------------------------------------------------------- help

UNITS = {"learning rate", "ratio", "fraction of --steps, 0 to 1", "momentum", "count", "epochs", "choice", "steps",
         "file", "flag", "names", "iterations"}  # fmt: skip
HELPS = [[], ["suggest"], ["table"], ["plot"], ["plot", "x.csv"]] + [[c, p] for c in ("table", "plot") for p in POLICIES]


def option_helps(text: str) -> dict[str, str]:
    """``{option: help}`` for the option lines of an argparse help text."""
    section = text.split("options:\n", 1)[1].split("\n\n", 1)[0]
    entries = re.split(r"\n(?=  -)", section)
    return {e.split()[0].rstrip(","): " ".join(e.split()) for e in entries}


@pytest.mark.parametrize("args", HELPS, ids=" ".join)
def test_help_is_plain_text_and_states_unit_and_default(args):
    out = schedcore_cli(*args, "--help", env={**os.environ, "COLUMNS": "250"})
    assert out.returncode == 0, out.stderr
    assert "`" not in out.stdout and ":func:" not in out.stdout
    options = option_helps(out.stdout)
    assert "-h" in options and (len(options) >= 3 or args in ([], ["table"], ["plot"]))
    for option, line in options.items():
        if option in ("-h", "--version"):
            continue
        m = re.search(r"\(([^;()]+); (default: [^()]+|required[^()]*)\)$", line)
        assert m and m.group(1) in UNITS, line
