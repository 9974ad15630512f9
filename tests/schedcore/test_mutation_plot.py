"""Plots checked through the returned matplotlib objects: line data, labels, scales, markers."""

import numpy as np
import pytest

mpl = pytest.importorskip("matplotlib")

from schedcore import SchedLin, schedule_table  # noqa: E402
from schedcore.plot import close, plot_lr_find, plot_schedules, save_figure  # noqa: E402

LRS = np.array([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
LOSSES = np.array([2.0, 1.5, 1.0, np.inf, 3.0])


@pytest.fixture
def figs():
    made = []
    yield made.append
    for fig in made:
        close(fig)


def test_lr_find_line_labels_scale_and_title(figs):
    fig = plot_lr_find(LRS, LOSSES, skip_end=1, title="range test")
    figs(fig)
    ax = fig.axes[0]
    (line,) = ax.lines
    np.testing.assert_array_equal(line.get_xdata(), LRS[:4])
    np.testing.assert_array_equal(line.get_ydata(), [2.0, 1.5, 1.0, np.nan])  # inf is not drawn
    assert (ax.get_xscale(), ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("log", "Learning Rate", "Loss", "range test")
    assert ax.get_legend() is None


def test_lr_find_batch_with_per_curve_lrs(figs):
    x = np.stack([LRS, LRS * 2])
    y = np.stack([np.arange(5.0), np.arange(5.0) ** 2])
    fig = plot_lr_find(x, y, {}, skip_end=0)
    figs(fig)
    lines = fig.axes[0].lines
    assert len(lines) == 2
    for line, xs, ys in zip(lines, x, y, strict=True):
        np.testing.assert_array_equal(line.get_xdata(), xs)
        np.testing.assert_array_equal(line.get_ydata(), ys)


@pytest.mark.parametrize(
    "lrs, losses, kwargs, error, match",
    [
        ("x", [1.0], {}, TypeError, "^lrs must hold numbers"),
        ([1.0], "x", {}, TypeError, "^losses must hold numbers"),
        ([1.0], [[[1.0]]], {}, ValueError, "do not describe curves"),
        ([1.0, 2.0], [1.0], {}, ValueError, "do not describe curves"),
        ([1.0], [1.0], {"title": 5}, TypeError, "title must be a str or None"),
    ],
)
def test_lr_find_bad_arguments(lrs, losses, kwargs, error, match):
    with pytest.raises(error, match=match):
        plot_lr_find(lrs, losses, **kwargs)


def test_lr_find_markers_colours_and_legend(figs):
    """Marker i is an 'o' with no line, coloured prop_cycle[1 + i % 9] (colour 0 is the curve)."""
    cycle = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    suggestions = {f"s{i}": (10.0 ** -(i % 4 + 1), float(i)) for i in range(10)}
    with mpl.rc_context({"legend.loc": "upper left"}):
        fig = plot_lr_find(LRS, LOSSES, suggestions, skip_end=0)
    figs(fig)
    ax = fig.axes[0]
    _, *marks = ax.lines
    assert ax.get_legend()._loc == 0  # "best", whatever rcParams say
    assert ax.get_legend_handles_labels()[1] == [f"s{i}: {10.0 ** -(i % 4 + 1):.2e}" for i in range(10)]
    for i, m in enumerate(marks):
        assert (m.get_xdata()[0], m.get_ydata()[0]) == (10.0 ** -(i % 4 + 1), float(i))
        assert (m.get_marker(), m.get_linestyle()) == ("o", "None")
        assert mpl.colors.same_color(m.get_color(), cycle[1 + i % (len(cycle) - 1)])


def test_bare_lr_markers_sit_on_the_log_interpolated_curve(figs):
    fig = plot_lr_find(LRS, [4.0, 3.0, 2.0, 1.0, 0.0], {"a": 10**-2.5, "zero": 0.0}, skip_end=0)
    figs(fig)
    _, a, zero = fig.axes[0].lines
    assert (a.get_xdata()[0], a.get_ydata()[0]) == (10**-2.5, pytest.approx(2.5))  # halfway between 1e-3 (3.0) and 1e-2 (2.0)
    assert zero.get_xdata()[0] == 0.0 and np.isnan(zero.get_ydata()[0])  # lr 0 is not on a log axis
    fig = plot_lr_find(LRS, LOSSES, {"a": 1e-3}, skip_end=5)  # nothing left to draw
    figs(fig)
    assert np.isnan(fig.axes[0].lines[1].get_ydata()[0])


def test_plot_schedules_values_labels_and_groups(figs):
    scheds = {"lr": SchedLin([0.0, 1.0], [1.0, 3.0]), "wd": SchedLin(0.5, 0.0)}
    with mpl.rc_context({"legend.loc": "upper left"}):
        fig = plot_schedules(scheds, n_steps=4, title="two hypers")
    figs(fig)
    table = schedule_table(scheds, 4)
    lr_ax, wd_ax = fig.axes
    assert [ax.get_ylabel() for ax in fig.axes] == ["lr", "wd"]
    assert (lr_ax.get_xlabel(), wd_ax.get_xlabel()) == ("", "step (of 4)")
    assert fig.get_suptitle() == "two hypers"
    assert tuple(fig.get_size_inches()) == pytest.approx((6.4, 4.8))
    for line, start, end in zip(lr_ax.lines, [0.0, 1.0], [1.0, 3.0], strict=True):
        np.testing.assert_array_equal(line.get_xdata(), table.steps)
        np.testing.assert_allclose(line.get_ydata(), [start + (end - start) * k / 4 for k in range(4)])
    assert [t.get_text() for t in lr_ax.get_legend().get_texts()] == ["group 0", "group 1"]
    assert lr_ax.get_legend()._loc == 0  # "best"
    assert lr_ax.get_shared_x_axes().joined(lr_ax, wd_ax)
    assert fig.subplotpars.left != mpl.rcParams["figure.subplot.left"]  # tight_layout moved the margins
    assert wd_ax.get_legend() is None
    np.testing.assert_allclose(wd_ax.lines[0].get_ydata(), [0.5, 0.375, 0.25, 0.125])
    fig = plot_schedules(({"lr": SchedLin(1.0, 0.0)}, 3), n_steps=2)
    figs(fig)
    assert fig.get_suptitle() == "" and tuple(fig.get_size_inches()) == pytest.approx((6.4, 2.4))
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [1.0, 0.5])
    fig = plot_schedules({"wd": SchedLin(0.5, 0.0)})  # 1000 steps by default
    figs(fig)
    assert fig.axes[0].get_xlabel() == "step (of 1000)" and len(fig.axes[0].lines[0].get_xdata()) == 1000
    with pytest.raises(TypeError, match="title must be a str or None"):
        plot_schedules(scheds, title=1)


@pytest.mark.parametrize("name", ["f.PNG", "f.svg"])
def test_save_figure_format_from_extension_and_dpi(tmp_path, figs, name):
    fig = plot_lr_find([1e-3, 1e-2], [2.0, 1.0], skip_end=0)
    figs(fig)
    data = save_figure(fig, tmp_path / name, dpi=50).read_bytes()
    if name.endswith("PNG"):
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (320, 240)  # 6.4 x 4.8 in
    else:
        assert b"<svg" in data[:500]
    if name.endswith("PNG"):  # dpi 100 by default
        data = save_figure(fig, tmp_path / name).read_bytes()
        assert int.from_bytes(data[16:20], "big") == 640
    with pytest.raises(ValueError, match="unknown figure format 'xpng'"):  # only the dot is stripped
        save_figure(fig, tmp_path / "f.Xpng")
    with pytest.raises(ValueError, match="give the figure file an extension"):
        save_figure(fig, tmp_path / "noext")


@pytest.mark.parametrize(
    "platform, environ, loaded, agg",
    [
        ("linux", {}, False, True),
        ("linux", {"DISPLAY": ""}, False, True),  # empty is no display
        ("linux", {"DISPLAY": ":0"}, False, False),
        ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, False, False),
        ("linux", {"MPLBACKEND": "pdf"}, False, False),  # the user's choice wins
        ("linux", {}, True, False),  # pyplot already chose its backend
        ("darwin", {}, False, False),
    ],
)
def test_pyplot_picks_agg_only_when_headless_and_unchosen(monkeypatch, platform, environ, loaded, agg):
    import types

    import schedcore.plot as plot

    used = []
    monkeypatch.setattr(mpl, "use", used.append)
    modules = {"matplotlib.pyplot": None} if loaded else {}
    monkeypatch.setattr(plot, "sys", types.SimpleNamespace(platform=platform, modules=modules))
    monkeypatch.setattr(plot, "os", types.SimpleNamespace(environ=environ))
    assert plot.pyplot().__name__ == "matplotlib.pyplot"
    assert used == (["Agg"] if agg else [])


def test_pyplot_without_matplotlib_says_how_to_install(monkeypatch):
    import sys

    from schedcore.plot import PLOT_INSTALL_HINT, pyplot

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError) as e:
        pyplot()
    assert (str(e.value), e.value.name) == (PLOT_INSTALL_HINT, "matplotlib")
    assert 'pip install "schedcore[plot]"' in PLOT_INSTALL_HINT


def test_close_frees_the_figure():
    fig = plot_lr_find([1e-3, 1e-2], [2.0, 1.0], skip_end=0)
    assert fig.number in mpl.pyplot.get_fignums()
    close(fig)
    assert fig.number not in mpl.pyplot.get_fignums()


def test_save_figure_unknown_format_lists_the_known_ones(tmp_path, figs):
    fig = plot_lr_find([1e-3, 1e-2], [2.0, 1.0], skip_end=0)
    figs(fig)
    with pytest.raises(ValueError) as e:
        save_figure(fig, tmp_path / "f.nope")
    assert str(e.value).startswith(f"{tmp_path / 'f.nope'}: unknown figure format 'nope'; use one of [")
    assert "'png'" in str(e.value) and not (tmp_path / "f.nope").exists()


def test_plot_schedules_of_a_partial_table_uses_its_step_numbers(figs):
    """Rows 2..3 of a 4-step table are drawn at steps 2 and 3, out of 4."""
    table = schedule_table({"wd": SchedLin(0.5, 0.0)}, 4, start=2)
    fig = plot_schedules(table)
    figs(fig)
    (line,) = fig.axes[0].lines
    np.testing.assert_array_equal(line.get_xdata(), [2, 3])
    np.testing.assert_allclose(line.get_ydata(), [0.25, 0.125])
    assert fig.axes[0].get_xlabel() == "step (of 4)"
