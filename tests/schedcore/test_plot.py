"""Plots: figures returned, markers and legends, panels per hyper-parameter, lazy matplotlib."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from schedcore import SchedExp, one_cycle, schedule_table, sgdr, smooth_losses  # noqa: E402
from schedcore.plot import close, plot_lr_find, plot_schedules, save_figure  # noqa: E402
from schedcore.suggest import minimum, steep, suggest_lrs, valley  # noqa: E402


def curve(n=100):
    lrs = SchedExp(1e-7, 10)(np.arange(n) / n)
    t = np.log10(lrs)
    return lrs, smooth_losses(2.5 - 2 / (1 + np.exp(-(t + 4))) + np.exp(2.5 * (t - 0.3)))


def test_plot_lr_find_markers_from_suggest_lrs_points():
    lrs, losses = curve()
    s, points = suggest_lrs(lrs, losses, 100, (minimum, steep, valley), return_points=True)
    fig = plot_lr_find(lrs, losses, (s, points))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "Learning Rate"
    line, *marks = ax.lines
    assert len(line.get_xdata()) == 95  # skip_end=5
    assert [m.get_xdata()[0] for m in marks] == [points.minimum[0], points.steep[0], points.valley[0]]
    assert ax.get_legend_handles_labels()[1] == [f"{k}: {v:.2e}" for k, v in s._asdict().items()]
    close(fig)


def test_plot_lr_find_bare_lrs_sit_on_the_curve_and_batches_draw_lines():
    lrs, losses = curve()
    fig = plot_lr_find(lrs, losses, suggest_lrs(lrs, losses, funcs=(valley,)), skip_end=0)
    (_, mark) = fig.axes[0].lines
    x, y = mark.get_xdata()[0], mark.get_ydata()[0]
    assert y == pytest.approx(np.interp(np.log10(x), np.log10(lrs), losses))
    close(fig)
    fig = plot_lr_find(lrs, np.stack([losses, losses + 1, losses * 2]))
    assert len(fig.axes[0].lines) == 3
    close(fig)
    with pytest.raises(ValueError, match="one curve"):
        plot_lr_find(lrs, np.stack([losses, losses]), {"valley": 1e-3})
    with pytest.raises(ValueError, match="skip_end"):
        plot_lr_find(lrs, losses, skip_end=-1)


def test_plot_schedules_panels_for_dict_sgdr_pair_and_table(tmp_path):
    for arg in (one_cycle(slice(1e-4, 1e-2), n_groups=3), schedule_table(one_cycle(1e-2), 50)):
        fig = plot_schedules(arg, n_steps=50)
        assert [ax.get_ylabel() for ax in fig.axes] == ["lr", "mom"]
        close(fig)
    fig = plot_schedules(sgdr(3, 1, 0.1), n_steps=70)
    (lr_line,) = fig.axes[0].lines
    np.testing.assert_allclose(lr_line.get_ydata(), schedule_table(sgdr(3, 1, 0.1)[0], 70)["lr"])
    path = save_figure(fig, tmp_path / "sgdr.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="unknown figure format"):
        save_figure(fig, tmp_path / "x.nope")
    close(fig)


def test_matplotlib_is_imported_lazily():
    code = "import sys, schedcore, schedcore.plot, schedcore.cli; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
