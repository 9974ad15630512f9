"""Annealers: schedules from a start value to an end value over positions in [0, 1].

A schedule is a picklable callable ``f(pos)``. ``pos`` is the fraction of training done:
a Python float gives a float, an array of any shape gives an array of that shape. ``start``
and ``end`` may be 1-D arrays of length G (one value per optimizer parameter group); the result
then has shape ``pos.shape + (G,)``.

Every evaluation is one vectorised numpy expression over the whole position array.

>>> SchedLin(0, 2)(0.25)
0.5
>>> SchedCos(0, 2)([0.0, 0.5, 1.0]).round(6).tolist()
[0.0, 1.0, 2.0]
>>> SchedLin([1.0, 10.0], [0.0, 0.0])(0.5).tolist()
[0.5, 5.0]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._io import check_fits, to_numpy
from .callables import evaluate_callable
from .guards import check_int, check_positive, check_values

__all__ = [
    "Schedule",
    "Annealer",
    "SchedNo",
    "SchedLin",
    "SchedCos",
    "SchedExp",
    "SchedPoly",
    "annealer",
    "FuncSchedule",
    "as_schedule",
    "as_positions",
    "group_values",
]

ArrayLike = Any


_NOT_POSITIONS = frozenset({bool, np.bool_, str, bytes, type(None)})


def as_positions(pos: ArrayLike) -> tuple[np.ndarray, bool]:
    """Convert ``pos`` to a float64 array and check every value is in [0, 1].

    Parameters
    ----------
    pos : float or array-like
        Positions (fractions of training done).

    Returns
    -------
    positions : ndarray
        ``pos`` as float64, same shape.
    was_scalar : bool
        Whether ``pos`` was a scalar (so callers can return a float).

    Raises
    ------
    ValueError
        A NaN or out-of-range value; the message names the first one and its index.
    TypeError
        An argument of the wrong kind (a string, None, a bool, or a float where an integer is
        needed); the message names it.

    Examples
    --------
    >>> as_positions(0.5)
    (array(0.5), True)
    >>> as_positions([0.2, 1.5])
    Traceback (most recent call last):
    ...
    ValueError: positions must lie in [0, 1]; got 1.5 at index (1,)
    """
    if type(pos) in _NOT_POSITIONS:  # one set lookup: this runs on every call
        raise TypeError(f"pos must be a number or an array of numbers in [0, 1]; got {pos!r}")
    try:
        p = to_numpy(pos)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"positions must lie in [0, 1]; got {str(pos)[:80]}") from None
    except (TypeError, ValueError):
        raise TypeError(f"pos must be a number or an array of numbers in [0, 1]; got {str(pos)[:80]}") from None
    if p.size:
        lo, hi = p.min(), p.max()
        if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
            bad = np.argwhere(~((p >= 0.0) & (p <= 1.0)))[0]
            raise ValueError(
                f"positions must lie in [0, 1]; got {float(p[tuple(bad)])!r} at index {tuple(bad.tolist())}"
            )
    return p, p.ndim == 0


def _as_value(x: ArrayLike, name: str) -> float | np.ndarray:
    """A start/end value: a finite float, or a finite 1-D float array (one per group)."""
    if isinstance(x, slice):
        raise TypeError(
            f"{name}={x!r}: a slice needs the number of parameter groups; "
            "expand it first with group_values(value, n_groups)"
        )
    a = check_values(x, name, ndim=(0, 1, 2))
    if type(a) is float:
        return a
    if np.ndim(a) > 1:
        raise ValueError(f"{name} must be a number or a 1-D array of per-group values; got shape {a.shape}")
    if np.ndim(a) == 0:
        return a
    a = a.copy()  # a schedule is a value: the caller's array may change, ours must not
    a.flags.writeable = False
    return a


def _n_groups(*values: float | np.ndarray) -> int | None:
    """Common group count of per-group values (None when all are scalars)."""
    sizes = {v.shape[0] for v in values if isinstance(v, np.ndarray)}
    if len(sizes) > 1:
        raise ValueError(f"per-group values have mismatched lengths {sorted(sizes)}")
    return sizes.pop() if sizes else None


def group_values(value: ArrayLike, n_groups: int) -> np.ndarray:
    """Expand a hyper-parameter value to one value per parameter group (fastai's rule).

    - a scalar: the same value for every group;
    - ``slice(b)``: ``b/10`` for every group but the last, which gets ``b``;
    - ``slice(a, b)``: geometric spacing ``a*(b/a)**(i/(G-1))``;
    - a list/array: used as is, and must have ``n_groups`` entries.

    Parameters
    ----------
    value : float, slice, or array-like of shape (n_groups,)
    n_groups : int
        Number of parameter groups, >= 1.

    Returns
    -------
    ndarray of shape (n_groups,)

    Raises
    ------
    ValueError
        ``n_groups`` < 1, an array of another length, non-finite values, or a slice with a
        step or without a positive end.
    TypeError
        An argument of the wrong kind (a string, None, a bool, or a float where an integer is
        needed); the message names it.

    Examples
    --------
    >>> group_values(slice(1e-3), 3).tolist()
    [0.0001, 0.0001, 0.001]
    >>> group_values(slice(1e-4, 1e-2), 3).round(8).tolist()
    [0.0001, 0.001, 0.01]
    >>> group_values(0.1, 2).tolist()
    [0.1, 0.1]
    """
    return _group_values(value, n_groups, "value")


def _group_values(value: ArrayLike, n_groups: int, name: str) -> np.ndarray:
    """:func:`group_values`, with errors naming the caller's parameter ``name``."""
    n_groups = check_int(n_groups, "n_groups", min=1)
    check_fits(8 * n_groups, f"n_groups={n_groups} per-group values")
    if isinstance(value, slice):
        if value.step is not None:
            raise ValueError(f"{name}: a learning-rate slice takes no step; got {value!r}")
        if value.stop is None:
            raise ValueError(f"{name}: slice end must be a number > 0; got {value!r}")
        stop = _slice_bound(value.stop, "end", value, name)
        if value.start is None or (not isinstance(value.start, (bool, str)) and value.start == 0):
            out = np.full(n_groups, stop / 10.0)
            out[-1] = stop
            return out
        start = _slice_bound(value.start, "start", value, name)
        if n_groups == 1:
            return np.array([stop])
        t = np.arange(n_groups) / (n_groups - 1)
        ratio = stop / start
        if 0.0 < ratio < math.inf:
            return start * ratio**t
        return np.exp(math.log(start) + (math.log(stop) - math.log(start)) * t)  # ratio over/underflows
    a = check_values(value, name)
    if np.ndim(a) == 0:
        return np.full(n_groups, a)
    if a.shape != (n_groups,):
        raise ValueError(f"{name}: expected {n_groups} per-group values; got {a.size} ({value!r})")
    return a.copy()


def _slice_bound(v: Any, which: str, whole: slice, name: str) -> float:
    try:
        return check_positive(v, f"{name}: slice {which}")
    except (TypeError, ValueError) as e:
        raise type(e)(f"{e} (in {whole!r})") from None


class Schedule:
    """Base class: a picklable callable mapping positions in [0, 1] to values.

    Subclasses implement ``_eval(p, is_sorted=False, out=None)`` on a validated float64 array
    ``p`` and return an array of shape ``p.shape`` (or ``p.shape + (G,)`` for per-group values),
    written into ``out`` when it is given. ``is_sorted`` is a hint that a 1-D ``p`` is
    non-decreasing (tables use it). Neither hint changes the values.
    """

    n_groups: int | None = None

    def __call__(self, pos: ArrayLike) -> float | np.ndarray:
        if isinstance(pos, np.ndarray) and pos.ndim == 1 and pos.dtype.kind == "f" and pos.size > 1:
            # Sorted float positions (what users pass offline, like a table): one comparison
            # pass checks them all (sorted, and its ends in [0, 1]; NaN fails the comparison),
            # then the table's fast path. Anything else is checked and evaluated in general.
            p = pos if pos.dtype == np.float64 else pos.astype(np.float64)
            if p[0] >= 0.0 and p[-1] <= 1.0 and bool((p[1:] >= p[:-1]).all()):
                return self._eval(p, is_sorted=True)
        p, scalar = as_positions(pos)
        out = self._eval(p.reshape(1) if scalar else p)
        if scalar:
            return float(out[0]) if out.ndim == 1 else out[0]
        return out

    def _eval(self, p: np.ndarray, is_sorted: bool = False, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError


def _into(out: np.ndarray | None, values: np.ndarray) -> np.ndarray:
    """Return ``values``, copied into ``out`` when one is given."""
    if out is None:
        return values
    out[...] = values
    return out


def _where_end(p: np.ndarray, is_sorted: bool) -> slice | np.ndarray | None:
    """Index of the positions equal to 1 (None if there are none).

    Annealers set their value there to exactly ``end``: ``s + (e-s)*1`` can miss ``e`` by
    rounding. Computed before ``p`` is overwritten (``p`` and ``out`` may share memory).
    """
    if is_sorted and p.ndim == 1:
        return slice(int(np.searchsorted(p, 1.0)), None) if p.size and p[-1] == 1.0 else None
    at_end = p == 1.0
    return at_end if at_end.any() else None


class Annealer(Schedule):
    """Go from ``start`` to ``end``: ``start + (end - start) * w(pos)``.

    Subclasses define ``_weight(p, out)``, which returns ``w(pos) / _scale`` (0 at pos 0),
    or override ``_eval``. ``p`` and ``out`` may be the same array: weights are elementwise.

    Annealers are values: equal when of one type with equal fields (``start``, ``end``, and
    ``power`` or the function; per-group arrays compared in full, and stored read-only), and
    equal annealers hash alike.

    >>> SchedLin(0, 1) == SchedLin(0.0, 1.0), SchedLin(0, 1) == SchedCos(0, 1)
    (True, False)
    >>> len({SchedLin(0, 1), SchedLin(0.0, 1.0)})
    1
    """

    _scale = 1.0
    _halve = False  # end - start overflows: evaluate on halved values (see _eval_halved)

    def __init__(self, start: ArrayLike, end: ArrayLike):
        self.start = _as_value(start, "start")
        self.end = _as_value(end, "end")
        self.n_groups = _n_groups(self.start, self.end)
        if self.n_groups is None:  # two floats: Python's subtraction overflows to inf, silently
            self._halve = not math.isfinite(self.end - self.start)
        else:
            with np.errstate(over="ignore"):
                self._halve = not np.all(np.isfinite(np.subtract(self.end, self.start)))

    def _weight(self, p: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def _eval(self, p: np.ndarray, is_sorted: bool = False, out: np.ndarray | None = None) -> np.ndarray:
        s, e = self.start, self.end
        at_end = _where_end(p, is_sorted)
        if self._halve:
            v = _into(out, self._eval_halved(p))
        elif self.n_groups is not None:  # (..., G) values written in place: no (..., G) temporaries
            v = np.multiply(self._weight(p)[..., None], (e - s) * self._scale, out=out)
            v += s
        else:
            v = self._weight(p, out)  # in place: one buffer, no temporaries
            v *= float((e - s) * self._scale)  # the scale is a power of two: exact; Python floats
            v += float(s)  # keep a float32 table in float32 (a float64 scalar would copy it)
        if at_end is not None:
            v[at_end] = e
        return v

    def _eval_halved(self, p: np.ndarray) -> np.ndarray:
        """``2 * (s/2 + w*(e/2 - s/2))``: no overflow when ``e - s`` exceeds the float range
        (``SchedCos(-1e308, 1e308)``); clipped to ``[min(s, e), max(s, e)]`` against rounding."""
        s, e = np.asarray(self.start) * 0.5, np.asarray(self.end) * 0.5
        w = self._weight(p)
        v = (w[..., None] if self.n_groups is not None else w) * ((e - s) * self._scale) + s
        v *= 2.0
        return np.clip(v, np.minimum(self.start, self.end), np.maximum(self.start, self.end))

    def _args(self) -> str:
        def fmt(v):
            return repr(v) if isinstance(v, float) else np.array2string(v, separator=", ")

        return f"{fmt(self.start)}, {fmt(self.end)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._args()})"

    def _fields(self) -> tuple:
        """What defines the schedule: two annealers of one type with equal fields are equal."""
        return (self.start, self.end)

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return all(map(_same, self._fields(), other._fields()))  # one type: as many fields

    def __hash__(self) -> int:
        return hash((type(self), *(tuple(v.tolist()) if isinstance(v, np.ndarray) else v for v in self._fields())))


def _same(a: Any, b: Any) -> bool:
    """Field equality: per-group arrays compare element by element (never a float with an array)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b


class SchedNo(Annealer):
    """Constant schedule: always ``start`` (``end`` is ignored, as in fastai).

    >>> SchedNo(0, 2)([0.0, 0.5, 1.0]).tolist()
    [0.0, 0.0, 0.0]
    """

    def _eval(self, p: np.ndarray, is_sorted: bool = False, out: np.ndarray | None = None) -> np.ndarray:
        shape = p.shape + ((self.n_groups,) if self.n_groups else ())
        out = np.empty(shape) if out is None else out
        out[...] = self.start
        return out


class SchedLin(Annealer):
    """Linear schedule: ``start + pos*(end - start)``.

    >>> SchedLin(0, 2)([0.0, 0.25, 0.5, 0.75, 1.0]).tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0]
    """

    def _weight(self, p: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            return p.copy()
        out[...] = p
        return out


class SchedCos(Annealer):
    """Cosine schedule: ``start + (1 + cos(pi*(1 - pos))) * (end - start)/2``.

    Computed as ``start + (end - start) * (1 - cos(pi*pos))/2``, which is the same curve and
    gives exactly ``start`` at ``pos == 0``.

    >>> SchedCos(0, 2)([0.0, 0.25, 0.5, 0.75, 1.0]).round(5).tolist()
    [0.0, 0.29289, 1.0, 1.70711, 2.0]
    """

    _scale = 0.5

    def _weight(self, p: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        w = np.multiply(p, math.pi, out=out)
        np.cos(w, out=w)
        np.subtract(1.0, w, out=w)
        return w


class SchedExp(Annealer):
    """Exponential schedule: ``start * (end/start)**pos``.

    Evaluated as ``start * exp(pos * log(end/start))`` (equal up to rounding, and free of
    overflow for extreme ratios).

    ``start`` and ``end`` must be non-zero and of one sign (fastai returns NaN or raises a
    ZeroDivisionError otherwise; we raise a ``ValueError`` up front).

    >>> SchedExp(1, 2)([0.0, 0.5, 1.0]).round(5).tolist()
    [1.0, 1.41421, 2.0]
    """

    def __init__(self, start: ArrayLike, end: ArrayLike):
        super().__init__(start, end)
        s, e = np.asarray(self.start), np.asarray(self.end)
        if np.any(s == 0) or np.any(e == 0) or np.any(np.sign(s) != np.sign(e)):
            raise ValueError(
                f"SchedExp needs non-zero start and end of the same sign; got start={self.start!r}, "
                f"end={self.end!r}"
            )
        # log-space, so that extreme but valid ratios (1e-300 -> 1e300) do not overflow
        self._log_ratio = np.log(np.abs(e)) - np.log(np.abs(s))

    def _eval(self, p: np.ndarray, is_sorted: bool = False, out: np.ndarray | None = None) -> np.ndarray:
        grouped = self.n_groups is not None
        ratio = self._log_ratio
        if np.all(np.abs(ratio) < 700):  # exp(pos * log ratio) cannot overflow
            if not grouped:
                v = np.multiply(p, float(ratio), out=out)
                np.exp(v, out=v)
                v *= self.start
                return v
            v = np.multiply(p[..., None], ratio, out=out)
            np.exp(v, out=v)
            v *= self.start
            return v
        # Extreme ratios: fold log|start| into the exponent so no intermediate overflows.
        s = np.asarray(self.start)
        return _into(out, np.sign(s) * np.exp(np.log(np.abs(s)) + (p[..., None] if grouped else p) * ratio))


class SchedPoly(Annealer):
    """Polynomial schedule: ``start + (end - start) * pos**power``, with ``power > 0``.

    >>> SchedPoly(0, 2, 2)([0.0, 0.25, 0.5, 0.75, 1.0]).tolist()
    [0.0, 0.125, 0.5, 1.125, 2.0]
    """

    def __init__(self, start: ArrayLike, end: ArrayLike, power: float):
        super().__init__(start, end)
        self.power = check_positive(power, "power")

    def _weight(self, p: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.power(p, self.power, out=out)

    def _args(self) -> str:
        return f"{super()._args()}, {self.power!r}"

    def _fields(self) -> tuple:
        return (self.start, self.end, self.power)


class _Custom(Annealer):
    """An annealer made by :func:`annealer` from a function ``f(start, end, pos)``."""

    def __init__(self, func: Callable, start: ArrayLike, end: ArrayLike, factory=None):
        super().__init__(start, end)
        self.func = func
        self.factory = factory

    def __reduce__(self):
        # Pickle by reference to the decorated, module-level name (the factory), which is
        # what ``@annealer`` leaves in the module namespace.
        if self.factory is None:
            return super().__reduce__()
        return (self.factory, (self.start, self.end))

    def _eval(self, p: np.ndarray, is_sorted: bool = False, out: np.ndarray | None = None) -> np.ndarray:
        # one vectorised call, or one call per position for scalar-only bodies (see schedcore.callables)
        return _into(out, evaluate_callable(functools.partial(self.func, self.start, self.end), p, self.n_groups))

    def __repr__(self) -> str:
        return f"{getattr(self.func, '__name__', 'annealer')}({self._args()})"

    def _fields(self) -> tuple:
        return (self.func, self.start, self.end)


def annealer(f: Callable) -> Callable[..., Schedule]:
    """Decorator: turn ``f(start, end, pos)`` into ``f(start, end) -> Schedule``.

    ``f`` is first called once with the whole position array (fast when written with numpy
    operations); if that raises or gives the wrong shape -- a body written the fastai way for
    one float, with ``math.sqrt(pos)`` or ``if pos < .5`` -- it is called once per position
    (:func:`~schedcore.callables.evaluate_callable`). The resulting schedules pickle when ``f``
    is a module-level function.

    Parameters
    ----------
    f : callable
        ``f(start, end, pos)`` giving the value at position ``pos``.

    Returns
    -------
    callable
        ``g(start, end)`` returning a :class:`Schedule` (an :class:`Annealer`).

    Raises
    ------
    Exception
        Whatever ``f`` raises at a single position, when the schedule is evaluated.

    Examples
    --------
    >>> @annealer
    ... def sched_square(start, end, pos):
    ...     return start + (end - start) * pos**2
    >>> sched_square(0, 4)([0.0, 0.5, 1.0]).tolist()
    [0.0, 1.0, 4.0]
    >>> @annealer
    ... def sched_sqrt(start, end, pos):
    ...     return start + (end - start) * math.sqrt(pos)
    >>> sched_sqrt(0, 4)([0.0, 0.25, 1.0]).tolist(), sched_sqrt(0, 4)(0.25)
    ([0.0, 2.0, 4.0], 2.0)
    """

    @functools.wraps(f)
    def make(start: ArrayLike, end: ArrayLike) -> Schedule:
        return _Custom(f, start, end, make)

    return make


class FuncSchedule(Schedule):
    """A plain callable ``f(pos)`` (lambda, ``def``, ``partial``, callable object) as a Schedule.

    Evaluated by :func:`~schedcore.callables.evaluate_callable`: once on the whole position
    array, or once per position when ``f`` only takes floats. Pickles when ``f`` does.

    >>> f = FuncSchedule(lambda p: 1 - p)
    >>> f([0.0, 0.25]).tolist(), f(0.5)
    ([1.0, 0.75], 0.5)
    """

    def __init__(self, func: Callable):
        if not callable(func):
            raise TypeError(f"a schedule must be callable (a function of pos); got {func!r}")
        self.func = func

    def _eval(self, p: np.ndarray, is_sorted: bool = False, out: np.ndarray | None = None) -> np.ndarray:
        return _into(out, evaluate_callable(self.func, p))

    def __repr__(self) -> str:
        return f"FuncSchedule({self.func!r})"


def as_schedule(sched: Schedule | Callable, name: str = "schedule") -> Schedule:
    """``sched`` itself if it is a :class:`Schedule`, else a :class:`FuncSchedule` around a callable.

    Parameters
    ----------
    sched : Schedule or callable
        A schedule, or any callable of ``pos``.
    name : str, default "schedule"
        What to call it in an error message.

    Returns
    -------
    Schedule

    Raises
    ------
    TypeError
        ``sched`` is neither; the message names ``name`` and the value.

    Examples
    --------
    >>> as_schedule(SchedLin(0, 1)), as_schedule(abs)
    (SchedLin(0.0, 1.0), FuncSchedule(<built-in function abs>))
    >>> as_schedule(0.1, "lr")
    Traceback (most recent call last):
    ...
    TypeError: lr must be a schedule (a Schedule or a callable of pos); got 0.1
    """
    if isinstance(sched, Schedule):
        return sched
    if callable(sched):
        return FuncSchedule(sched)
    raise TypeError(f"{name} must be a schedule (a Schedule or a callable of pos); got {sched!r}")
