"""matplotlib figures: an LR-range-test curve with its suggestions, and schedules.

matplotlib is imported inside the functions (it is an optional dependency, the ``plot`` extra),
with the ``Agg`` backend when there is no display; without it they raise an ``ImportError`` that
says ``pip install "schedcore[plot]"``. Every function returns the ``Figure`` (fastai's
``return_fig`` returns nothing); :func:`save_figure` writes one atomically.

>>> fig = plot_lr_find([1e-4, 1e-3, 1e-2, 1e-1], [2.0, 1.0, 0.5, 3.0], {"valley": 1e-3}, skip_end=0)
>>> fig.axes[0].get_xscale(), fig.axes[0].get_legend_handles_labels()[1]
('log', ['valley: 1.00e-03'])
>>> close(fig)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write
from .guards import as_array

__all__ = ["plot_lr_find", "plot_schedules", "save_figure", "close", "pyplot", "PLOT_INSTALL_HINT"]

PLOT_INSTALL_HINT = 'plotting needs matplotlib, an optional dependency: pip install "schedcore[plot]"'


def pyplot():
    """``matplotlib.pyplot``, with the Agg backend chosen first when there is no display to show on.

    Returns
    -------
    module
        ``matplotlib.pyplot``.

    Raises
    ------
    ImportError
        matplotlib is not installed; the message says ``pip install "schedcore[plot]"``.

    Examples
    --------
    >>> pyplot().__name__
    'matplotlib.pyplot'
    """
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError(PLOT_INSTALL_HINT, name="matplotlib") from e

    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless and "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _check_title(title) -> None:
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None; got {title!r} ({type(title).__name__})")


def plot_lr_find(lrs, losses, suggestions: Mapping | tuple | None = None, skip_end: int = 5, title: str | None = None):
    """Plot loss against learning rate (log x), with one marker and legend entry per suggestion.

    Parameters
    ----------
    lrs : array-like of shape (n,)
        Learning rates (lists, arrays or tensors).
    losses : array-like of shape (n,) or (B, n)
        One curve, or a batch (one line each; suggestions are for one curve). Infinite losses are
        not drawn.
    suggestions : dict, SuggestedLRs or (suggestions, points) pair, optional
        ``{name: lr}`` or ``{name: (x, y)}``, a ``SuggestedLRs``, or the pair
        ``suggest_lrs(..., return_points=True)`` returns; markers go at the points (``minimum``
        marks ``m``, not its suggestion ``m/10``) or, for a bare lr, on the curve.
    skip_end : int, default 5
        The last ``skip_end`` points are not drawn (as fastai).
    title : str, optional
        The axes title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        A negative ``skip_end``, shapes that do not describe curves, or suggestions for a batch.
    TypeError
        ``suggestions`` of another kind.
    ImportError
        matplotlib is not installed (``pip install "schedcore[plot]"``).

    Examples
    --------
    >>> fig = plot_lr_find(np.geomspace(1e-5, 1, 20), np.linspace(2, 1, 20))
    >>> len(fig.axes[0].lines)
    1
    >>> close(fig)
    """
    _check_title(title)
    x, y = as_array(lrs, "lrs"), as_array(losses, "losses")
    if not isinstance(skip_end, int) or skip_end < 0:
        raise ValueError(f"skip_end must be an integer >= 0; got {skip_end!r}")
    if x.shape[-1:] != y.shape[-1:] or y.ndim not in (1, 2) or x.ndim > y.ndim:
        raise ValueError(f"lrs of shape {x.shape} and losses of shape {y.shape} do not describe curves")
    keep = slice(None, -skip_end if skip_end else None)
    x, y = x[..., keep], np.where(np.isinf(y[..., keep]), np.nan, y[..., keep])
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot(np.broadcast_to(x, y.shape).T, y.T)
    ax.set(xscale="log", xlabel="Learning Rate", ylabel="Loss", title=title)
    marks = _marks(suggestions, x, y)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"][1:]
    for i, (label, (px, py)) in enumerate(marks):
        ax.plot(px, py, "o", label=label, c=colors[i % len(colors)])
    if marks:
        ax.legend(loc="best")
    return fig


def _marks(suggestions, x: np.ndarray, y: np.ndarray) -> list[tuple[str, tuple[float, float]]]:
    """``[(legend label, (x, y))]`` for the suggestions."""
    if suggestions is None:
        return []
    as_dict = lambda d: d._asdict() if hasattr(d, "_asdict") else d  # noqa: E731
    values, points = as_dict(suggestions), {}
    if isinstance(suggestions, tuple) and len(suggestions) == 2 and all(isinstance(as_dict(d), Mapping) for d in suggestions):
        values, points = as_dict(suggestions[0]), as_dict(suggestions[1])  # (suggestions, points)
    if not isinstance(values, Mapping):
        raise TypeError(f"suggestions must be a dict, a SuggestedLRs or (suggestions, points); got {suggestions!r}")
    if y.ndim != 1 and values:
        raise ValueError("suggestions can be marked on one curve only; got a batch of curves")
    marks = []
    for name, v in values.items():
        point = points.get(name, v)
        if np.ndim(point) == 0:
            point = (float(point), _on_curve(float(point), x, y))
        lr = float(v if np.ndim(v) == 0 else v[0])
        marks.append((f"{name}: {lr:.2e}", (float(point[0]), float(point[1]))))
    return marks


def _on_curve(lr: float, x: np.ndarray, y: np.ndarray) -> float:
    if not (lr > 0 and len(x)):
        return float("nan")
    return float(np.interp(np.log10(lr), np.log10(x), y))


def plot_schedules(scheds_or_table: Any, n_steps: int = 1000, title: str | None = None):
    """One panel per hyper-parameter, one line per parameter group.

    Parameters
    ----------
    scheds_or_table : dict of str to Schedule, (scheds, n_epoch) pair, or ScheduleTable
        Schedules (evaluated on ``n_steps`` steps), the pair ``sgdr`` returns, or a table.
    n_steps : int, default 1000
        Steps to evaluate schedules on (ignored for a table).
    title : str, optional
        The figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError, TypeError
        As :func:`schedcore.schedule_table` for schedules it cannot evaluate.
    ImportError
        matplotlib is not installed (``pip install "schedcore[plot]"``).

    Examples
    --------
    >>> from schedcore import one_cycle
    >>> fig = plot_schedules(one_cycle(1e-2), n_steps=100)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['lr', 'mom']
    >>> close(fig)
    """
    from .tables import ScheduleTable, schedule_table

    _check_title(title)
    table = scheds_or_table
    if isinstance(table, tuple) and len(table) == 2 and isinstance(table[0], Mapping):
        table = table[0]
    if not isinstance(table, ScheduleTable):
        table = schedule_table(table, n_steps)
    plt = pyplot()
    fig, axes = plt.subplots(len(table), 1, sharex=True, squeeze=False, figsize=(6.4, 2.4 * len(table)))
    for ax, (name, values) in zip(axes[:, 0], table.items(), strict=True):
        lines = ax.plot(table.steps, values)
        if values.ndim == 2:
            ax.legend(lines, [f"group {g}" for g in range(values.shape[1])], loc="best")
        ax.set_ylabel(name)
    axes[-1, 0].set_xlabel(f"step (of {table.n_steps})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_figure(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` (format from the extension: png, pdf, svg, ...), atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or path-like
        The file; its extension picks the format.
    dpi : int, default 100
        Resolution of raster formats.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        No extension, or a format matplotlib cannot write.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> fig = plot_lr_find([1e-3, 1e-2], [2.0, 1.0], skip_end=0)
    >>> save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "lr.png").stat().st_size > 0
    True
    >>> close(fig)
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if not fmt:
        raise ValueError(f"{path}: give the figure file an extension (.png, .pdf, .svg, ...)")
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(f"{path}: unknown figure format {fmt!r}; use one of {sorted(supported)}")
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi), mode="wb")


def close(fig) -> None:
    """Close ``fig`` in pyplot (frees its memory once it is saved or shown).

    Parameters
    ----------
    fig : matplotlib.figure.Figure

    Returns
    -------
    None

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install "schedcore[plot]"``).

    Examples
    --------
    >>> fig = plot_lr_find([1e-3, 1e-2], [2.0, 1.0], skip_end=0)
    >>> close(fig); fig.number in pyplot().get_fignums()
    False
    """
    pyplot().close(fig)
