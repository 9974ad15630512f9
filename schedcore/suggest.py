"""Learning-rate suggesters: pick a learning rate from an LR-range-test loss curve.

Every suggester has fastai's signature ``f(lrs, losses, num_it) -> (suggested_lr, (x, y))``,
where ``(x, y)`` is the point to mark on the plot, and chooses the same index as fastai on the
same curve. Beyond fastai:

* **Batched**: ``losses`` of shape ``(B, n)`` (with ``lrs`` of shape ``(n,)`` or ``(B, n)``)
  gives arrays of ``B`` suggestions and points, computed without a Python loop over curves.
  Curves of different lengths are passed NaN-padded at the end: a curve ends at its first NaN
  loss (as ``lr_find`` cuts it there).
* **Safe**: a curve a method cannot use (too short, no points, NaN inside, lrs that are not
  positive and increasing where logs are taken) gives ``nan`` for that curve and a
  :class:`SuggestionWarning` naming the method and the reason -- never an ``IndexError`` or a
  wrapped-around index. A loss that never decreases gives fastai's number (``minimum``:
  ``lrs[0]/10``, ``steep`` and ``valley``: ``lrs[0]`` on a convex or flat curve) *and* a warning
  that the curve is a poor guide. :func:`diagnose` explains a curve in words.
* **Fast**: ``valley`` is O(n log n) (fastai's is an O(n^2) Python double loop).

>>> import numpy as np
>>> lrs = 10.0 ** np.arange(-6, 3)
>>> losses = np.array([2.0, 1.9, 1.7, 1.2, 0.8, 0.6, 0.7, 1.5, 3.0])
>>> minimum(lrs, losses)[0], steep(lrs, losses)[0], valley(lrs, losses)[0]
(0.01, 0.0001, 0.0001)
>>> suggest_lrs(lrs, losses, funcs=(minimum, valley), trim=False)
SuggestedLRs(minimum=0.01, valley=0.0001)
"""

from __future__ import annotations

import bisect
import functools
import inspect
import math
import numbers
import sys
import warnings
from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .guards import as_array, check_float, check_int, check_positive

__all__ = [
    "valley",
    "slide",
    "minimum",
    "steep",
    "SuggestionMethod",
    "SuggestedLRs",
    "SuggestionWarning",
    "CurveDiagnosis",
    "suggest_lrs",
    "trim_curve",
    "smooth_losses",
    "LossSmoother",
    "diverged",
    "diagnose",
    "descent",
]

ArrayLike = Any
Result = tuple[Any, tuple[Any, Any]]

# Batches at least this large run valley's LDS vectorised across curves; smaller ones per curve.
_VECTORISE_FROM = 128


class SuggestionWarning(UserWarning):
    """A suggester could not use a curve (its suggestion is ``nan``), with the reason."""


def _warn(message: str) -> None:
    """Warn with the line of the first caller outside this module: the user's call, whether it
    reached the suggester directly or through :func:`suggest_lrs` (a fixed stacklevel cannot be
    right for both)."""
    level, frame = 1, sys._getframe(0)
    while frame.f_globals.get("__name__") == __name__:
        level, frame = level + 1, frame.f_back
    warnings.warn(message, SuggestionWarning, stacklevel=level)


# ------------------------------------------------------------------------------- curve handling


@dataclass
class _Curves:
    """A batch of curves as 2-D float arrays; ``length[b]`` = points before the first NaN loss."""

    lrs: np.ndarray
    losses: np.ndarray
    length: np.ndarray
    batched: bool

    @property
    def valid(self) -> np.ndarray:
        return np.arange(self.losses.shape[1]) < self.length[:, None]

    @property
    def rows(self) -> np.ndarray:
        return np.arange(self.losses.shape[0])


def _curves(lrs: ArrayLike, losses: ArrayLike) -> _Curves:
    """Convert and check shapes: 1-D (one curve) or 2-D (a batch), same number of points."""
    x, y = as_array(lrs, "lrs"), as_array(losses, "losses")
    for name, a in (("lrs", x), ("losses", y)):
        if a.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D (one curve) or 2-D (a batch of curves); got shape {a.shape}")
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"lrs and losses must have as many points; got {x.shape[-1]} lrs and {y.shape[-1]} losses")
    if x.ndim == 2 and y.ndim == 2 and x.shape[0] != y.shape[0]:
        raise ValueError(f"lrs of shape {x.shape} and losses of shape {y.shape} hold different numbers of curves")
    x2, y2 = np.broadcast_arrays(np.atleast_2d(x), np.atleast_2d(y))
    first_nan = _first(np.isnan(y2))
    length = np.where(first_nan >= 0, first_nan, y2.shape[1])
    return _Curves(x2, y2, length, x.ndim == 2 or y.ndim == 2)


def _first(mask: np.ndarray) -> np.ndarray:
    """Index of the first True in each row, -1 where there is none."""
    if mask.shape[1] == 0:
        return np.full(mask.shape[0], -1)
    return np.where(mask.any(1), mask.argmax(1), -1)


def _curve_problems(c: _Curves) -> list[list[str]]:
    """Why each curve is unusable for every method (empty lists for usable curves)."""
    y, x, valid, n = c.losses, c.lrs, c.valid, c.length
    with np.errstate(invalid="ignore"):
        checks = [
            (np.where(n == 0, 0, -1), lambda b, k: "no points (the curve is empty or starts with NaN)"),
            (_first(~valid & ~np.isnan(y)), lambda b, k: f"NaN inside: the loss at point {n[b]} is NaN but later ones are not"),
            (_first(valid & np.isinf(y)), lambda b, k: f"the loss at point {k} is {y[b, k]}"),
            (_first(valid & ~np.isfinite(x)), lambda b, k: f"the lr at point {k} is {x[b, k]}"),
        ]  # fmt: skip
    problems: list[list[str]] = [[] for _ in range(len(n))]
    for where, message in checks:
        for b in np.flatnonzero(where >= 0):
            problems[b].append(message(b, where[b]))
    return problems


_NEVER_DECREASES = "the loss never decreases (no decreasing stretch at all)"


def _never_decreasing(c: _Curves) -> np.ndarray:
    """Curves with points whose loss never goes down: usable, but a poor guide."""
    y, valid = c.losses, c.valid
    with np.errstate(invalid="ignore"):
        return (c.length > 0) & ~((y[:, 1:] < y[:, :-1]) & valid[:, 1:]).any(1)


def _warn_poor_guide(name: str, poor: np.ndarray, batched: bool) -> None:
    """Warn that the suggestion on a never-decreasing curve is fastai's number but a poor guide."""
    if not poor.any():
        return
    if batched:
        shown = ", ".join(str(b) for b in np.flatnonzero(poor)[:5]) + (", ..." if poor.sum() > 5 else "")
        where = f"in {int(poor.sum())} of {len(poor)} curves (curve {shown}) {_NEVER_DECREASES}"
    else:
        where = _NEVER_DECREASES
    _warn(f"{name}: {where}: the curve is a poor guide; the suggestion is fastai's value for it")


def _method_problems(c: _Curves, min_points: int, needs_log: bool) -> list[list[str]]:
    """Why each curve is too short, or has unsuitable lrs, for a method with these needs."""
    x, valid, n = c.lrs, c.valid, c.length
    problems: list[list[str]] = [[] for _ in range(len(n))]
    for b in np.flatnonzero(n < min_points):
        problems[b].append(f"needs at least {min_points} points; the curve has {n[b]}")
    if needs_log:
        with np.errstate(invalid="ignore"):
            not_pos = _first(valid & ~(x > 0))
            not_inc = _first(valid[:, 1:] & ~(np.diff(x, axis=1) > 0))
        for b in np.flatnonzero(not_pos >= 0):
            problems[b].append(f"needs positive lrs (it works on log(lr)); the lr at point {not_pos[b]} is {x[b, not_pos[b]]}")
        for b in np.flatnonzero((not_inc >= 0) & (not_pos < 0)):
            k = not_inc[b]
            problems[b].append(f"needs increasing lrs; the lr at point {k + 1} ({x[b, k + 1]}) is not above the one before ({x[b, k]})")
    return problems


def _screen(c: _Curves, name: str, min_points: int, needs_log: bool) -> tuple[_Curves, np.ndarray]:
    """Warn about the curves ``name`` cannot use; return the curves with those rows replaced by a
    harmless decreasing curve (so the vectorised code runs warning-free) and the mask of them."""
    reasons = [a + b for a, b in zip(_curve_problems(c), _method_problems(c, min_points, needs_log), strict=True)]
    bad = np.array([bool(r) for r in reasons], dtype=bool)
    _warn_poor_guide(name, _never_decreasing(c) & ~bad, c.batched)
    if not bad.any():
        return c, bad
    _warn_unusable(name, reasons, c.batched)
    n = c.losses.shape[1]
    lrs = np.where(bad[:, None], np.arange(1.0, n + 1), c.lrs)
    losses = np.where(bad[:, None], np.arange(n, 0.0, -1), c.losses)
    return _Curves(lrs, losses, np.where(bad, n, c.length), c.batched), bad


def _warn_unusable(name: str, reasons: list[list[str]], batched: bool) -> None:
    bad = [(b, "; ".join(r)) for b, r in enumerate(reasons) if r]
    if not batched:
        message = f"{name}: cannot use this curve: {bad[0][1]}; the suggestion is nan"
    else:
        shown = "; ".join(f"curve {b}: {r}" for b, r in bad[:3])
        more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
        message = f"{name}: cannot use {len(bad)} of {len(reasons)} curves, their suggestions are nan ({shown}{more})"
    _warn(message)


def _nans(c: _Curves, bad: np.ndarray) -> Result:
    """Every curve unusable: nan suggestions and points (float64 arrays for a batch)."""
    if not c.batched:
        return math.nan, (math.nan, math.nan)
    sugg, x, y = np.full((3, len(bad)), np.nan)
    return sugg, (x, y)


def _result(sugg: np.ndarray, x: np.ndarray, y: np.ndarray, bad: np.ndarray, batched: bool) -> Result:
    sugg, x, y = (np.where(bad, np.nan, np.asarray(a, dtype=np.float64)) for a in (sugg, x, y))
    if batched:
        return sugg, (x, y)
    return float(sugg[0]), (float(x[0]), float(y[0]))


# ------------------------------------------------------------------------------------ suggesters


def minimum(lrs: ArrayLike, losses: ArrayLike, num_it: int | None = None) -> Result:
    """A tenth of the learning rate with the lowest loss: ``m = lrs[argmin(losses)]``.

    Parameters
    ----------
    lrs : array-like of shape (n,)
        Learning rates of the recorded points, increasing.
    losses : array-like of shape (n,) or (B, n)
        Smoothed losses: one curve, or a batch of curves sharing ``lrs``.
    num_it : int, optional
        Iterations the test asked for; unused here, accepted so every method has one signature.

    Returns
    -------
    suggestion : float or ndarray of shape (B,)
        The suggested learning rate (nan, with a :class:`SuggestionWarning`, where the curve is
        unusable for this method).
    point : tuple of (float or ndarray, float or ndarray)
        The ``(x, y)`` point to mark on the plot.
        ``(m / 10, (m, loss at m))``.

    Raises
    ------
    ValueError
        ``lrs`` and ``losses`` whose lengths differ, or arrays that are not 1-D/2-D.
    TypeError
        An argument of the wrong kind (a string, None, a bool, or a float where an integer is
        needed); the message names it.

    Examples
    --------
    >>> minimum([1e-3, 1e-2, 1e-1], [2.0, 1.0, 3.0])
    (0.001, (0.01, 1.0))
    >>> minimum([1e-3, 1e-2, 1e-1], [[2.0, 1.0, 3.0], [3.0, 2.0, 1.0]])[0].tolist()
    [0.001, 0.01]
    """
    c, bad = _screen(_curves(lrs, losses), "minimum", 1, False)
    if bad.all():
        return _nans(c, bad)
    i = np.where(c.valid, c.losses, np.inf).argmin(1)
    m = c.lrs[c.rows, i]
    return _result(m / 10, m, c.losses[c.rows, i], bad, c.batched)


def steep(lrs: ArrayLike, losses: ArrayLike, num_it: int | None = None) -> Result:
    """The learning rate where the loss falls fastest against ``log(lr)``.

    ``g = diff(losses) / diff(log(lrs))``, ``m = lrs[argmin(g)]`` (the left end of the steepest
    segment). Needs two points and positive increasing lrs.

    Parameters
    ----------
    lrs : array-like of shape (n,)
        Learning rates of the recorded points, increasing.
    losses : array-like of shape (n,) or (B, n)
        Smoothed losses: one curve, or a batch of curves sharing ``lrs``.
    num_it : int, optional
        Iterations the test asked for; unused here, accepted so every method has one signature.

    Returns
    -------
    suggestion : float or ndarray of shape (B,)
        The suggested learning rate (nan, with a :class:`SuggestionWarning`, where the curve is
        unusable for this method).
    point : tuple of (float or ndarray, float or ndarray)
        The ``(x, y)`` point to mark on the plot.
        ``(m, (m, loss at m))``.

    Raises
    ------
    ValueError
        ``lrs`` and ``losses`` whose lengths differ, or arrays that are not 1-D/2-D.
    TypeError
        An argument of the wrong kind (a string, None, a bool, or a float where an integer is
        needed); the message names it.

    Examples
    --------
    >>> steep([1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.8, 1.0, 3.0])
    (0.01, (0.01, 1.8))
    """
    c, bad = _screen(_curves(lrs, losses), "steep", 2, True)
    if bad.all():
        return _nans(c, bad)
    with np.errstate(all="ignore"):  # padding only; masked below
        g = np.diff(c.losses, axis=1) / np.diff(np.log(c.lrs), axis=1)
    i = np.where(c.valid[:, 1:], g, np.inf).argmin(1) if g.shape[1] else np.zeros(len(c.length), int)
    m = c.lrs[c.rows, i]
    return _result(m, m, c.losses[c.rows, i], bad, c.batched)


def valley(lrs: ArrayLike, losses: ArrayLike, num_it: int | None = None) -> Result:
    """The learning rate about two thirds down the longest valley (ESRI's rule, fastai's default).

    ``lds[i]`` is the length of the longest strictly decreasing subsequence of ``losses`` ending
    at ``i``; ``end`` the first index with the largest ``lds``; ``start = end - lds[end]``;
    ``sec = (end - start) / 3``; ``idx = max(0, start + int(sec) + int(sec / 2))``. O(n log n) per
    curve (patience sorting), vectorised across large batches. fastai wraps ``idx`` round to -1
    (the *last* lr) when the longest decrease is two points at the very start; we clamp it to 0.

    Parameters
    ----------
    lrs : array-like of shape (n,)
        Learning rates of the recorded points, increasing.
    losses : array-like of shape (n,) or (B, n)
        Smoothed losses: one curve, or a batch of curves sharing ``lrs``.
    num_it : int, optional
        Iterations the test asked for; unused here, accepted so every method has one signature.

    Returns
    -------
    suggestion : float or ndarray of shape (B,)
        The suggested learning rate (nan, with a :class:`SuggestionWarning`, where the curve is
        unusable for this method).
    point : tuple of (float or ndarray, float or ndarray)
        The ``(x, y)`` point to mark on the plot.
        ``(lrs[idx], (lrs[idx], losses[idx]))``.

    Raises
    ------
    ValueError
        ``lrs`` and ``losses`` whose lengths differ, or arrays that are not 1-D/2-D.
    TypeError
        An argument of the wrong kind (a string, None, a bool, or a float where an integer is
        needed); the message names it.

    Examples
    --------
    >>> valley(range(1, 11), [5.0, 4.5, 4.0, 3.0, 2.0, 1.0, 0.5, 1.0, 2.0, 3.0])
    (3.0, (3.0, 4.0))
    >>> valley([1, 2, 3, 4], [2.0, 1.0, 3.0, 4.0])  # fastai would answer 4 (index -1)
    (1.0, (1.0, 2.0))
    """
    c, bad = _screen(_curves(lrs, losses), "valley", 1, False)
    if bad.all():
        return _nans(c, bad)
    lds = _lds_batched(c.losses, c.length) if len(c.length) >= _VECTORISE_FROM else _lds_rows(c)
    end = lds.argmax(1)  # padding lds (0 or 1) never exceed a curve's own, and come after it
    start = end - lds[c.rows, end]
    sec = (end - start) / 3
    idx = np.maximum(start + np.floor(sec).astype(int) + np.floor(sec / 2).astype(int), 0)
    return _result(c.lrs[c.rows, idx], c.lrs[c.rows, idx], c.losses[c.rows, idx], bad, c.batched)


def _lds_rows(c: _Curves) -> np.ndarray:
    """Longest-decreasing-subsequence lengths, one curve at a time (0 in the padding)."""
    lds = np.zeros(c.losses.shape, dtype=np.int64)
    for b, n in enumerate(c.length):
        lds[b, :n] = _lds_one(c.losses[b, :n])
    return lds


def _lds_one(y: np.ndarray) -> list[int]:
    """Patience sorting on ``-y``: ``tails[k]`` is the smallest last value of an increasing run
    of length ``k + 1``; a strict increase of ``-y`` is a strict decrease of ``y``."""
    tails: list[float] = []
    out = []
    for v in (-y).tolist():
        p = bisect.bisect_left(tails, v)
        if p == len(tails):
            tails.append(v)
        else:
            tails[p] = v
        out.append(p + 1)
    return out


def _lds_batched(y: np.ndarray, length: np.ndarray) -> np.ndarray:
    """:func:`_lds_one` for every row at once: one short binary search per point, across rows.

    ``tails`` is stored point-major (``tails[k * B + b]``) so that each probe is one ``take``;
    beyond each row's filled part it holds +inf sentinels, so a search over ``[0, longest]``
    (``longest`` = the longest run so far in any row) is exact.
    """
    B, n = y.shape
    x = np.where(np.arange(n) < length[:, None], -y, -np.inf).T.copy()
    tails, cols = np.full((n + 1) * B, np.inf), np.arange(B)
    lds, longest = np.empty((n, B), dtype=np.int64), 0
    for i in range(n):
        xi, bound = x[i], min(i, longest)
        lo, hi = np.zeros(B, dtype=np.intp), np.full(B, bound, dtype=np.intp)
        for _ in range(bound.bit_length()):  # bisect_left; stable once lo == hi
            mid = (lo + hi) >> 1
            less = tails.take(mid * B + cols) < xi
            lo, hi = np.where(less, mid + 1, lo), np.where(less, hi, mid)
        lds[i] = lo + 1
        tails[lo * B + cols] = xi
        longest = max(longest, int(lo.max()) + 1)
    return lds.T


def slide(
    lrs: ArrayLike,
    losses: ArrayLike,
    num_it: int | None = None,
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> Result:
    """Slide a window of ``lr_diff`` points leftwards from the end until the loss gradient is
    about the same at both ends (``|g[r] - g[l]| <= thresh``), where ``g = np.gradient(losses)``.

    Starting at ``r = -1``, ``l = r - lr_diff``: while ``l >= -n`` and ``|g[r] - g[l]| > thresh``,
    remember ``lrs[l]`` and move both one point left. The suggestion is the remembered lr (or
    ``lrs[-1 - lr_diff]`` if the first window already passes) times ``adjust_value``; ``y`` is the
    loss interpolated at it on a log-lr axis. Needs ``lr_diff + 1`` points (fastai raises
    ``IndexError`` on shorter curves; here the result is nan with a warning).

    Parameters
    ----------
    lrs : array-like of shape (n,)
        Learning rates of the recorded points, increasing.
    losses : array-like of shape (n,) or (B, n)
        Smoothed losses: one curve, or a batch of curves sharing ``lrs``.
    num_it : int, optional
        Iterations the test asked for; unused here, accepted so every method has one signature.
    lr_diff : int, default 15
        Width of the window, in points.
    thresh : float, default 0.005
        Largest gradient difference between the window's ends that stops the slide.
    adjust_value : float, default 1.0
        Factor applied to the lr found.

    Returns
    -------
    suggestion : float or ndarray of shape (B,)
        The suggested learning rate (nan, with a :class:`SuggestionWarning`, where the curve is
        unusable for this method).
    point : tuple of (float or ndarray, float or ndarray)
        The ``(x, y)`` point to mark on the plot.

    Raises
    ------
    ValueError
        ``lrs`` and ``losses`` whose lengths differ, arrays that are not 1-D/2-D, or a bad
        ``lr_diff``, ``thresh`` or ``adjust_value``.
    TypeError
        An argument of the wrong kind (a string, None, a bool, or a float where an integer is
        needed); the message names it.

    Examples
    --------
    >>> lrs = np.geomspace(1e-4, 1, 5)
    >>> slide(lrs, [3.0, 2.0, 1.0, 1.5, 4.0], lr_diff=2, thresh=1.0)
    (0.001, (0.001, 2.0))
    """
    lr_diff, thresh, adjust_value = _slide_args(lr_diff, thresh, adjust_value)
    c, bad = _screen(_curves(lrs, losses), "slide", max(2, lr_diff + 1), True)
    if bad.all():
        return _nans(c, bad)
    n = c.losses.shape[1]
    g = _gradient(c.losses, c.length)
    with np.errstate(invalid="ignore"):
        far = np.abs(g[:, lr_diff:] - g[:, : n - lr_diff]) > thresh  # window (l, l + lr_diff)
    inside = np.arange(n - lr_diff) <= (c.length - 1 - lr_diff)[:, None]
    stop = inside & ~far
    last_stop = np.where(stop.any(1), n - lr_diff - 1 - stop[:, ::-1].argmax(1), -1)
    local = c.lrs[c.rows, np.minimum(last_stop + 1, c.length - 1 - lr_diff)]
    sugg = local * adjust_value
    return _result(sugg, sugg, _interp_log(sugg, c), bad, c.batched)


def _slide_args(lr_diff, thresh, adjust_value) -> tuple[int, float, float]:
    return check_int(lr_diff, "lr_diff", min=0), check_float(thresh, "thresh", min=0.0), check_positive(adjust_value, "adjust_value")


def _gradient(y: np.ndarray, length: np.ndarray) -> np.ndarray:
    """``np.gradient(row[:length])`` for every row (unit spacing; one-sided at both ends: the
    last point of each row, ``length - 1``, is set last, so the padding's values never matter)."""
    g = np.empty_like(y)
    g[:, 1:-1] = (y[:, 2:] - y[:, :-2]) / 2.0
    g[:, 0] = y[:, 1] - y[:, 0]
    rows, e = np.arange(len(y)), length - 1
    g[rows, e] = y[rows, e] - y[rows, e - 1]
    return g


def _interp_log(x: np.ndarray, c: _Curves) -> np.ndarray:
    """``np.interp(log10(x), log10(lrs), losses)`` for every row (lrs positive and increasing)."""
    with np.errstate(all="ignore"):
        xp, xl = np.log10(c.lrs), np.log10(x)
        count = ((xp <= xl[:, None]) & c.valid).sum(1)  # knots at or left of x
        j = np.clip(count, 1, c.length - 1)
        r = c.rows
        x0, x1, y0, y1 = xp[r, j - 1], xp[r, j], c.losses[r, j - 1], c.losses[r, j]
        y = (y1 - y0) / (x1 - x0) * (xl - x0) + y0
    y = np.where(count == 0, c.losses[r, 0], y)
    return np.where(count >= c.length, c.losses[r, c.length - 1], y)


class SuggestionMethod:
    """The four suggesters under fastai's names: ``SuggestionMethod.Valley`` is :func:`valley`.

    >>> SuggestionMethod.Valley is valley, SuggestionMethod.Steep is steep
    (True, True)
    """

    Valley = staticmethod(valley)
    Slide = staticmethod(slide)
    Minimum = staticmethod(minimum)
    Steep = staticmethod(steep)


# ------------------------------------------------------------------------------ suggest_lrs


class SuggestedLRs:
    """Base of the named tuples :func:`suggest_lrs` returns: one field per method, named after
    the function (a ``partial``'s field is its function's name; repeats get ``_2``, ``_3``).

    >>> s = SuggestedLRs.make(["valley", "slide"], [1e-3, 2e-3])
    >>> s
    SuggestedLRs(valley=0.001, slide=0.002)
    >>> s.valley, isinstance(s, SuggestedLRs), tuple(s)
    (0.001, True, (0.001, 0.002))
    """

    __slots__ = ()

    @staticmethod
    def make(names: Sequence[str], values: Sequence[Any]) -> SuggestedLRs:
        """Build a ``SuggestedLRs`` named tuple with fields ``names`` holding ``values``."""
        return _suggested_type(tuple(names))(*values)

    def __reduce__(self):
        return SuggestedLRs.make, (self._fields, tuple(self))


@functools.lru_cache(maxsize=256)
def _suggested_type(names: tuple[str, ...]) -> type:
    base = namedtuple("SuggestedLRs", names)
    return type("SuggestedLRs", (base, SuggestedLRs), {"__slots__": ()})


def _func_name(func: Callable) -> str:
    inner = func.func if isinstance(func, functools.partial) else func
    return getattr(inner, "__name__", type(inner).__name__)


def _field_names(funcs: Sequence[Callable]) -> list[str]:
    names: list[str] = []
    for i, f in enumerate(funcs):
        name = _func_name(f)
        name = name if name.isidentifier() and not name.startswith("_") else f"func{i}"
        k, base = 2, name
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.append(name)
    return names


def trim_curve(lrs: ArrayLike, losses: ArrayLike, num_it: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """lr_find's preprocessing: keep points ``[num_it // 10 : -5]``, then cut at the first NaN loss.

    For a batch ``(B, n)`` each curve is cut at its own first NaN by NaN-padding the rest (how
    the suggesters take ragged batches).

    Parameters
    ----------
    lrs : array-like of shape (n,)
    losses : array-like of shape (n,) or (B, n)
    num_it : int, optional
        Iterations the test asked for (default: the number of recorded points).

    Returns
    -------
    lrs, losses : ndarray
        The kept points.

    Raises
    ------
    ValueError
        ``lrs`` and ``losses`` whose lengths differ.
    TypeError
        An argument of the wrong kind (a string, None, a bool, or a float where an integer is
        needed); the message names it.

    Examples
    --------
    >>> lrs, losses = trim_curve(np.arange(20.0), np.r_[np.arange(12.0), np.nan, np.zeros(7)])
    >>> lrs.tolist(), losses.tolist()
    ([2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0], [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0])
    """
    x, y = as_array(lrs, "lrs"), as_array(losses, "losses")
    if x.ndim == 0 or x.shape[-1:] != y.shape[-1:]:  # a 0-d y has shape[-1:] == ()
        raise ValueError(f"lrs and losses must have as many points; got shapes {x.shape} and {y.shape}")
    if x.shape != y.shape:  # one curve's lrs for a batch of losses, or the other way round
        c = _curves(x, y)
        x, y = c.lrs, c.losses
    num_it = y.shape[-1] if num_it is None else _num_it(num_it)
    x, y = x[..., num_it // 10 : -5], y[..., num_it // 10 : -5]
    after_nan = np.cumsum(np.isnan(y), axis=-1) > 0
    if y.ndim == 1:
        cut = int(after_nan.argmax()) if after_nan.any() else len(y)
        return x[:cut], y[:cut]
    return x, np.where(after_nan, np.nan, y)


def _num_it(num_it) -> int:
    return check_int(num_it, "num_it", min=0)


def suggest_lrs(
    lrs: ArrayLike,
    losses: ArrayLike,
    num_it: int | None = None,
    funcs: Sequence[Callable] = (valley,),
    *,
    trim: bool = True,
    return_points: bool = False,
):
    """Suggest learning rates from a recorded LR-range-test curve, as ``Learner.lr_find`` does.

    Applies lr_find's preprocessing (:func:`trim_curve`, unless ``trim=False``) and runs each of
    ``funcs``. A method that cannot use a curve gives ``nan`` and a :class:`SuggestionWarning`
    naming the method and the reason (see :func:`diagnose`); the built-in methods run batched,
    other functions once per curve.

    Parameters
    ----------
    lrs : array-like of shape (n,)
        Learning rates of the recorded points.
    losses : array-like of shape (n,) or (B, n)
        Smoothed losses, one curve or a batch.
    num_it : int, optional
        Iterations the test asked for (default: the number of recorded points); passed on to
        each function.
    funcs : sequence of callables, default (valley,)
        Suggestion methods ``f(lrs, losses, num_it) -> (lr, (x, y))``.
    trim : bool, default True
        Apply :func:`trim_curve` first.
    return_points : bool, default False
        Also return each method's ``(x, y)`` point.

    Returns
    -------
    SuggestedLRs or (SuggestedLRs, SuggestedLRs)
        One field per function (arrays for a batch); with ``return_points=True``,
        ``(suggestions, points)``.

    Raises
    ------
    ValueError
        ``lrs`` and ``losses`` whose lengths differ, or arrays that are not 1-D/2-D.
    TypeError
        An argument of the wrong kind (a string, None, a bool, or a float where an integer is
        needed); the message names it.

    Examples
    --------
    >>> lrs = 10.0 ** np.arange(-6, 3)
    >>> losses = [2.0, 1.9, 1.7, 1.2, 0.8, 0.6, 0.7, 1.5, 3.0]
    >>> lr_min, lr_steep = suggest_lrs(lrs, losses, funcs=(minimum, steep), trim=False)
    >>> f"{lr_min:.2e} {lr_steep:.2e}"
    '1.00e-02 1.00e-04'
    """
    num_it = None if num_it is None else _num_it(num_it)
    funcs = _check_funcs(funcs)
    if num_it is None:
        y = as_array(losses, "losses")
        num_it = y.shape[-1] if y.ndim else 0
    x, y = trim_curve(lrs, losses, num_it) if trim else (as_array(lrs, "lrs"), as_array(losses, "losses"))
    values, points = [], []
    for func in funcs:
        value, point = _run(func, x, y, num_it)
        values.append(value)
        points.append(point)
    names = _field_names(funcs)
    result = SuggestedLRs.make(names, values)
    return (result, SuggestedLRs.make(names, points)) if return_points else result


def _check_funcs(funcs: Any) -> list[Callable]:
    try:
        if isinstance(funcs, (str, bytes)) or not all(map(callable, funcs)):
            raise TypeError
        return list(funcs)
    except TypeError:
        raise TypeError(f"funcs must be a sequence of suggestion functions; got {funcs!r}") from None


_BUILTIN = {"valley": valley, "slide": slide, "minimum": minimum, "steep": steep}


def _run(func: Callable, lrs: np.ndarray, losses: np.ndarray, num_it: int) -> Result:
    """Run a built-in method batched; any other function once per curve, guarded."""
    inner = func.func if isinstance(func, functools.partial) else func
    if inner in _BUILTIN.values():
        return func(lrs, losses, num_it)
    c = _curves(lrs, losses)
    problems = _curve_problems(c)
    _warn_poor_guide(_func_name(func), _never_decreasing(c) & ~np.array([bool(p) for p in problems]), c.batched)
    out = [_run_one(func, c, b, problems[b], num_it) for b in range(len(c.length))]
    s, x, y = (np.array([o[i] for o in out]) for i in range(3))  # Python floats: float64
    if c.batched:
        return s, (x, y)
    return float(s[0]), (float(x[0]), float(y[0]))


def _run_one(func: Callable, c: _Curves, b: int, problems: list[str], num_it: int) -> tuple[float, float, float]:
    name, where = _func_name(func), (f" (curve {b})" if c.batched else "")
    reason = "; ".join(problems)
    if not reason:
        n = c.length[b]
        try:
            s, (x, y) = func(c.lrs[b, :n], c.losses[b, :n], num_it)
            return float(s), float(x), float(y)
        except Exception as e:  # a user's function failing on one curve must not sink the batch
            reason = f"raised {type(e).__name__}: {e}"
    _warn(f"{name}: cannot use this curve{where}: {reason}; the suggestion is nan")
    return np.nan, np.nan, np.nan


# ------------------------------------------------------------------------------------ smoothing


def _check_beta(beta: float) -> float:
    return check_float(beta, "beta", min=0.0, max=1.0, max_open=True)


class LossSmoother:
    """The training loop's smoothed loss, one loss at a time (what the Recorder calls per batch).

    The rule (fastai's, with one NaN rule): over the *finite* losses seen so far,
    ``v = beta*v + (1 - beta)*loss`` from ``v = 0``, reported as ``v / (1 - beta**count)``
    (``count``: finite losses so far). A NaN/inf loss is reported as NaN and kept out of ``v``
    and ``count``, so the values after it are the smoothing of the finite losses.
    :func:`smooth_losses` is the same rule over whole curves (tested equal).

    >>> s = LossSmoother(beta=0.5)
    >>> [s(2.0), s(float("nan")), s(0.0)]
    [2.0, nan, 0.6666666666666666]
    """

    def __init__(self, beta: float = 0.98):
        self.beta, self.avg, self.count = _check_beta(beta), 0.0, 0

    def __call__(self, loss: float) -> float:
        if not math.isfinite(loss):
            return math.nan
        self.count += 1
        self.avg = self.beta * self.avg + (1 - self.beta) * loss
        return self.avg / (1 - self.beta**self.count)


def smooth_losses(raw: ArrayLike, beta: float = 0.98) -> np.ndarray:
    """The debiased exponential moving average training records, for one curve or a batch.

    :class:`LossSmoother`'s rule over each curve: ``v_k = beta*v + (1 - beta)*raw_k`` over the
    finite losses (``v = 0`` first), reported as ``v / (1 - beta**count)``. A NaN/inf raw loss
    gives NaN at its position and is left out of the average, as in training (lr_find then
    cuts the curve at the first NaN).

    Parameters
    ----------
    raw : array-like of shape (n,) or (B, n)
        Raw losses, one per step.
    beta : float, default 0.98
        Smoothing factor, in [0, 1).

    Returns
    -------
    ndarray
        The smoothed losses, the shape of ``raw``.

    Raises
    ------
    ValueError
        ``beta`` outside [0, 1), or ``raw`` that is not 1-D/2-D.
    TypeError
        An argument of the wrong kind (a string, None, a bool, or a float where an integer is
        needed); the message names it.

    Examples
    --------
    >>> smooth_losses([1.0, 1.0, 1.0]).round(12).tolist()
    [1.0, 1.0, 1.0]
    >>> smooth_losses([2.0, float("nan"), 0.0], beta=0.5).tolist()
    [2.0, nan, 0.6666666666666666]
    """
    beta = _check_beta(beta)
    x = as_array(raw, "raw")
    if x.ndim not in (1, 2):
        raise ValueError(f"raw losses must be 1-D or 2-D (a batch of curves); got shape {x.shape}")
    cols = np.moveaxis(x, -1, 0)
    out = np.empty_like(cols)
    v, count = np.zeros(cols.shape[1:]), np.zeros(cols.shape[1:])
    for k in range(len(cols)):
        finite = np.isfinite(cols[k])
        count += finite
        v = np.where(finite, beta * v + (1 - beta) * np.where(finite, cols[k], 0.0), v)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[k] = np.where(finite, v / (1 - beta**count), np.nan)
    return np.moveaxis(out, 0, -1)


def diverged(loss: float, best: float, first: float) -> bool:
    """The LR range test's stop rule on the smoothed loss.

    NaN/inf diverges. When ``best > 0`` (every usual loss) this is fastai's rule,
    ``loss > 4*best``. Otherwise (zero or negative losses, e.g. a shifted loss, where ``4*best``
    would stop at once or never) the loss must rise above ``best`` by three times the larger of
    ``|best|`` and the drop from ``first`` to ``best``: the same "three times the scale" margin,
    on a scale that stays positive.

    Parameters
    ----------
    loss : float
        The current smoothed loss.
    best : float
        The lowest smoothed loss so far.
    first : float
        The first smoothed loss.

    Returns
    -------
    bool
        Whether the test should stop.

    Raises
    ------
    TypeError
        Arguments that are not numbers.

    Examples
    --------
    >>> diverged(4.1, 1.0, 2.0), diverged(3.9, 1.0, 2.0), diverged(float("nan"), 1.0, 2.0)
    (True, False, True)
    >>> diverged(-9.0, -10.0, -8.0), diverged(25.0, -10.0, -8.0)
    (False, True)
    """
    loss, best, first = _real(loss, "loss"), _real(best, "best"), _real(first, "first")
    if not math.isfinite(loss):
        return True
    if best > 0:
        return loss > 4 * best
    return loss > best + 3 * max(abs(best), first - best)


def _real(value, name: str) -> float:
    """``value`` as a float (NaN and inf allowed); ``TypeError`` naming ``name`` for non-numbers."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; got {value!r} ({type(value).__name__})")
    try:
        return float(value)
    except OverflowError:  # an int too large for a float
        return math.inf if value > 0 else -math.inf


# ------------------------------------------------------------------------------------ diagnosis


@dataclass(frozen=True)
class CurveDiagnosis:
    """What :func:`diagnose` found about one curve, in words.

    ``problems``: why no method can use the curve. ``unusable``: method name -> why that method
    cannot (includes the ``problems``). ``warnings``: why suggestions may mislead.
    """

    n_points: int
    problems: tuple[str, ...] = ()
    unusable: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        """True when at least the curve itself is usable (some method may still be too demanding)."""
        return not self.problems

    @property
    def ok(self) -> bool:
        """True when nothing at all was found."""
        return not (self.problems or self.unusable or self.warnings)

    def __str__(self) -> str:
        if self.ok:
            return "ok"
        if self.problems:
            return "; ".join(self.problems)
        return "; ".join([f"{m}: {r}" for m, r in self.unusable.items()] + list(self.warnings))


def _needs(func: Callable) -> tuple[str, int, bool]:
    """(name, min points, needs positive increasing lrs) of a method."""
    name = _func_name(func)
    inner = func.func if isinstance(func, functools.partial) else func
    if inner is slide:
        lr_diff = inspect.signature(func).parameters["lr_diff"].default
        return name, max(2, int(lr_diff) + 1), True
    if inner is steep:
        return name, 2, True
    return name, 1, False


def diagnose(
    lrs: ArrayLike,
    losses: ArrayLike,
    funcs: Sequence[Callable] = (valley, slide, minimum, steep),
    noise_ratio: float = 0.1,
) -> CurveDiagnosis | list[CurveDiagnosis]:
    """Explain why a curve (or each curve of a batch) is unusable or suspicious.

    Unusable: no points, NaN or inf inside, too few points for a method, lrs not
    positive/increasing for the log-scale methods (``steep``, ``slide``). Suspicious: a loss that
    never decreases, few points, lrs not increasing, the loss lowest within the first tenth of the
    points (the test diverged almost at once), noise above ``noise_ratio`` times the loss drop
    (noise estimated robustly from second differences).

    Parameters
    ----------
    lrs : array-like of shape (n,)
    losses : array-like of shape (n,) or (B, n)
    funcs : sequence of callables, default (valley, slide, minimum, steep)
        The methods to check the curve against.
    noise_ratio : float, default 0.1
        Noise above this fraction of the loss drop is reported.

    Returns
    -------
    CurveDiagnosis or list of CurveDiagnosis
        One per curve.

    Raises
    ------
    ValueError
        ``lrs`` and ``losses`` whose lengths differ, or arrays that are not 1-D/2-D.
    TypeError
        An argument of the wrong kind (a string, None, a bool, or a float where an integer is
        needed); the message names it.

    Examples
    --------
    >>> diagnose([1e-3, 1e-2, 1e-1], [1.0, 2.0, 3.0], funcs=(valley,)).warnings
    ('the loss never decreases (no decreasing stretch at all)', 'only 3 points: suggestions are rough')
    >>> d = diagnose(np.geomspace(1e-4, 1, 5), [3.0, 2.0, 1.0, 1.5, 4.0])
    >>> d.usable, d.unusable, d.warnings
    (True, {'slide': 'needs at least 16 points; the curve has 5'}, ('only 5 points: suggestions are rough',))
    """
    noise_ratio = check_float(noise_ratio, "noise_ratio", min=0.0)
    funcs = _check_funcs(funcs)
    c = _curves(lrs, losses)
    problems = _curve_problems(c)
    unusable: list[dict[str, str]] = [{} for _ in problems]
    for func in funcs:
        name, min_points, needs_log = _needs(func)
        for b, reasons in enumerate(_method_problems(c, min_points, needs_log)):
            if problems[b] or reasons:
                unusable[b][name] = "; ".join(problems[b] + reasons)
    suspicious = _suspicious(c, noise_ratio)
    out = [
        CurveDiagnosis(int(c.length[b]), tuple(problems[b]), unusable[b], tuple(suspicious[b] if not problems[b] else ()))
        for b in range(len(problems))
    ]
    return out if c.batched else out[0]


def _suspicious(c: _Curves, noise_ratio: float) -> list[list[str]]:
    """Warnings for usable-looking curves: few points, lrs not increasing, early divergence, noise."""
    n, valid = c.length, c.valid
    out: list[list[str]] = [[] for _ in n]
    with np.errstate(invalid="ignore"):
        not_inc = _first(valid[:, 1:] & ~(np.diff(c.lrs, axis=1) > 0))
    lowest = np.where(valid, c.losses, np.inf).argmin(1) if c.losses.shape[1] else np.zeros(len(n), dtype=int)
    early = (n >= 10) & (lowest < np.maximum(2, n // 10))
    ratio, sigma, drop = _noise(c)
    never = _never_decreasing(c)
    for b in range(len(n)):
        if never[b]:
            out[b].append(_NEVER_DECREASES)
        if 0 < n[b] < 10:
            out[b].append(f"only {n[b]} points: suggestions are rough")
        if not_inc[b] >= 0:
            out[b].append(f"lrs are not increasing (at point {not_inc[b] + 1})")
        if early[b]:
            out[b].append(f"the loss is lowest at point {lowest[b]} of {n[b]}: it diverged within the first points (start lower)")
        if ratio[b] > noise_ratio:
            out[b].append(f"too noisy: estimated noise {sigma[b]:.3g} vs. loss drop {drop[b]:.3g}")
    return out


def _noise(c: _Curves) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(noise / drop, noise, drop) per curve; noise = robust std of second differences / sqrt(6),
    drop = highest loss before the minimum minus the minimum. NaN where not computable."""
    B = len(c.length)
    sigma, drop = np.full(B, np.nan), np.full(B, np.nan)
    ok = (c.length >= 10) & np.isfinite(np.where(c.valid, c.losses, 0)).all(1)
    if ok.any():
        y = np.where(c.valid, c.losses, np.nan)[ok]
        d2 = y[:, 2:] - 2 * y[:, 1:-1] + y[:, :-2]
        mad = np.nanmedian(np.abs(d2 - np.nanmedian(d2, axis=1)[:, None]), axis=1)
        sigma[ok] = 1.4826 * mad / np.sqrt(6)
        low = np.where(np.isnan(y), np.inf, y).argmin(1)
        peak = np.maximum.accumulate(y, axis=1)[np.arange(len(y)), low]  # NaN only after low
        drop[ok] = peak - y[np.arange(len(y)), low]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(drop > 0, sigma / drop, 0.0)
    return ratio, sigma, drop  # ratio is never NaN: drop > 0 only where sigma was computed


# ------------------------------------------------------------------------- pooled: descent


def descent(
    lrs: ArrayLike,
    losses: ArrayLike,
    num_it: int | None = None,
    done: float = 0.8,
    back: float = 0.5,
    spread_warn: float = 1.0,
) -> Result:
    """Where the loss has done ``done`` of its descent, ``back`` decades lower; pools several runs.

    ``losses`` is one curve, or a batch ``(B, n)`` of *repeated runs of the same test* (seeds):
    unlike the other suggesters, a batch is pooled into **one** suggestion. The pooled curve
    ``P`` is the median over runs at each lr (a run that stopped earlier counts as diverged
    there). With ``i = argmin(P)`` and ``top = max(P[:i+1])``, ``j`` is the first point with
    ``P[j] <= P[i] + (1 - done) * (top - P[i])``; the suggestion is ``lrs[j] * 10**-back``.
    Returns ``(suggestion, (suggestion, P interpolated there))``. On the suggestion benchmark
    (``benchmarks/suggest_quality``) the defaults were tuned on half of the tasks; see the
    README for the scores on the other half.

    With several runs, each run's own suggestion is computed too; when they spread over more
    than ``spread_warn`` decades a :class:`SuggestionWarning` says so (on the benchmark, wide
    spreads marked the tasks where the range test is a poor guide). Runs a method cannot use
    are left out, with a warning; if none is left the result is ``nan``.

    Parameters
    ----------
    lrs : array-like of shape (n,) or (B, n)
        Learning rates of the recorded points, increasing.
    losses : array-like of shape (n,) or (B, n)
        Smoothed losses: one curve, or ``B`` repeated runs of the same range test (pooled).
    num_it : int, optional
        Iterations the test asked for; unused here, accepted so every method has one signature.
    done : float, default 0.8
        Fraction of the descent (from the highest loss before the minimum down to the minimum)
        that must be done at the chosen point; in (0, 1].
    back : float, default 0.5
        Decades to step back (towards lower lrs) from that point; in [-20, 20].
    spread_warn : float, default 1.0
        Width in decades of the runs' own suggestions above which a warning is given.

    Returns
    -------
    suggestion : float
        The suggested learning rate (nan, with a :class:`SuggestionWarning`, when no run is usable).
    point : tuple of (float, float)
        The ``(x, y)`` point to mark on the plot: the suggestion and the pooled curve there.

    Raises
    ------
    ValueError
        ``done``, ``back`` or ``spread_warn`` out of range, or ``lrs`` and ``losses`` whose
        shapes do not match.
    TypeError
        An argument of the wrong kind (a string, None, a bool); the message names it.

    Examples
    --------
    >>> lrs = 10.0 ** np.arange(-6, 3)
    >>> losses = np.array([2.0, 1.9, 1.7, 1.2, 0.8, 0.6, 0.7, 1.5, 3.0])
    >>> s, (x, y) = descent(lrs, losses)  # 80% of the drop 2.0 -> 0.6 is done at 1e-2 (0.8)
    >>> f"{s:.3g}"
    '0.00316'
    >>> runs = np.stack([losses, losses * 1.1, losses[::-1]])  # three runs; the third is odd
    >>> s2, _ = descent(lrs, runs, spread_warn=3)  # outvoted (and the spread is 2 decades)
    >>> s2 == s
    True
    """
    done, back, spread_warn = _descent_args(done, back, spread_warn)
    c, bad = _screen(_curves(lrs, losses), "descent", 2, True)
    if bad.all():
        return np.nan, (np.nan, np.nan)
    keep = np.flatnonzero(~bad)
    x, pooled = _pool(c, keep)
    s = _descent_lr(x, pooled, done) * 10.0**-back
    if len(keep) > 1:
        each = [_descent_lr(*_pool(c, [b]), done) for b in keep]
        width = float(np.log10(max(each)) - np.log10(min(each)))
        if width > spread_warn:
            _warn(
                f"descent: the {len(keep)} runs disagree: their own suggestions spread over {width:.2g} decades "
                f"(from {min(each) * 10.0**-back:.3g} to {max(each) * 10.0**-back:.3g}); the range test is a poor "
                "guide here (check the curves; try a few lrs)"
            )
    y = float(np.interp(np.log10(s), np.log10(x), pooled))
    return float(s), (float(s), y)


def _descent_args(done, back, spread_warn) -> tuple[float, float, float]:
    return (check_float(done, "done", min=0.0, max=1.0, min_open=True), check_float(back, "back", min=-20.0, max=20.0),
            check_float(spread_warn, "spread_warn", min=0.0))  # fmt: skip


def _pool(c: _Curves, rows) -> tuple[np.ndarray, np.ndarray]:
    """(lrs, median loss) over ``rows`` on the union of their lrs; a run is NaN (ignored) before
    its first lr and +inf (diverged) after its last; only points with a finite median are kept."""
    x = np.unique(np.concatenate([c.lrs[b, : c.length[b]] for b in rows]))
    lx = np.log10(x)
    ys = np.empty((len(rows), len(x)))
    for r, b in enumerate(rows):
        xb, yb = np.log10(c.lrs[b, : c.length[b]]), c.losses[b, : c.length[b]]
        ys[r] = np.interp(lx, xb, yb, left=np.nan, right=np.inf)
    pooled = np.nanmedian(ys, axis=0)  # every lr of x is some run's own: no all-NaN column
    ok = np.isfinite(pooled)
    return x[ok], pooled[ok]


def _descent_lr(x: np.ndarray, p: np.ndarray, done: float) -> float:
    """The first lr at which the curve ``p`` has done ``done`` of its drop to its minimum."""
    i = int(np.argmin(p))
    top = p[: i + 1].max()
    j = int(np.argmax(p[: i + 1] <= p[i] + (1 - done) * (top - p[i])))
    return float(x[j])
