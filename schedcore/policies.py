"""Fit policies: dicts of hyper-parameter name -> schedule, built from annealers.

Each policy returns ``{"lr": schedule, ...}`` (``sgdr`` also returns the epoch count). Learning
rates may be a float, an array of per-group values, or a ``slice`` together with
``n_groups`` (expanded by :func:`schedcore.group_values`).

>>> s = one_cycle(1e-2)
>>> sorted(s)
['lr', 'mom']
>>> round(s["lr"](0.0), 6), round(s["lr"](0.25), 6)
(0.0004, 0.01)
"""

from __future__ import annotations

import math

import numpy as np

from .annealers import (
    ArrayLike,
    SchedCos,
    SchedExp,
    SchedLin,
    SchedNo,
    SchedPoly,
    Schedule,
    _group_values,
)
from .combine import combine_scheds, combined_cos
from .guards import check_float, check_fraction, check_int, check_positive, check_values

__all__ = [
    "one_cycle",
    "flat_cos",
    "sgdr",
    "lr_range",
    "warmup_cosine",
    "wsd",
    "POLICIES",
    "get_policy",
]

Scheds = dict[str, Schedule]

# Each SGDR cycle is one schedule object; more than this would take minutes to build.
_MAX_CYCLES = 100_000


def _lr(value: ArrayLike, n_groups: int | None, name: str = "lr_max") -> float | np.ndarray:
    """A learning rate (finite, >= 0): float, per-group array, or a slice expanded over ``n_groups``."""
    if n_groups is not None:
        n_groups = check_int(n_groups, "n_groups", min=1)
    if isinstance(value, slice):
        if n_groups is None:
            raise ValueError(f"{name}={value!r} is a slice: pass n_groups to expand it")
        return _group_values(value, n_groups, name)
    if value is None:
        raise TypeError(f"{name} is required; got None")
    a = check_values(value, name, min=0.0)
    if n_groups is not None and np.ndim(a):
        return _group_values(a, n_groups, name)
    return a


def _pct(value: float, name: str) -> float:
    return check_fraction(value, name)


def _positive(value: float, name: str) -> float:
    return check_positive(value, name)


def _finite(value: float | np.ndarray, what: str) -> float | np.ndarray:
    """A value derived from several arguments (``lr_max / div``): it must not overflow."""
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{what} overflows (is {value!r}); use smaller or less extreme values")
    return value


def _moms(moms) -> tuple:
    try:
        if isinstance(moms, (str, bytes)):
            raise TypeError
        n = len(moms)
    except TypeError:
        raise TypeError(f"moms must be three values (start, middle, end) or None; got {moms!r}") from None
    if n != 3:
        raise ValueError(f"moms must be three values (start, middle, end); got {moms!r}")
    return tuple(check_values(m, f"moms[{i}]") for i, m in enumerate(moms))


def one_cycle(
    lr_max: ArrayLike,
    div: float = 25.0,
    div_final: float = 1e5,
    pct_start: float = 0.25,
    moms: tuple[float, float, float] | None = (0.95, 0.85, 0.95),
    n_groups: int | None = None,
) -> Scheds:
    """1cycle: lr ``lr_max/div -> lr_max -> lr_max/div_final``, mom ``moms[0] -> [1] -> [2]``.

    Both are :func:`combined_cos` with the turn at ``pct_start``: the lr rises by a cosine from
    ``lr_max/div`` to ``lr_max`` over the first ``pct_start`` of training, then falls by a cosine
    to ``lr_max/div_final``; momentum does the opposite.

    Parameters
    ----------
    lr_max : float, array of shape (G,), or slice
        Peak learning rate; an array gives one per parameter group, a ``slice`` is expanded over
        ``n_groups`` (:func:`schedcore.group_values`).
    div : float, default 25.0
        The first lr is ``lr_max / div``; finite and > 0.
    div_final : float, default 1e5
        The lr anneals towards ``lr_max / div_final`` (reached at position 1); finite and > 0.
    pct_start : float, default 0.25
        Fraction of training spent rising, in [0, 1].
    moms : tuple of three floats or None, default (0.95, 0.85, 0.95)
        Momentum at the start, the turn and the end; ``None`` leaves momentum unscheduled.
    n_groups : int, optional
        Number of parameter groups; needed when ``lr_max`` is a slice.

    Returns
    -------
    dict of str to Schedule
        ``{"lr": ..., "mom": ...}`` (no ``"mom"`` when ``moms`` is None).

    Raises
    ------
    ValueError
        A non-finite ``lr_max``, ``div`` or ``div_final`` <= 0, ``pct_start`` outside [0, 1],
        ``moms`` not three values, or a slice without ``n_groups``; a negative learning rate;
        ``lr_max / div`` beyond the float range.
    TypeError
        A value of the wrong kind: a string, ``None`` or a bool for a number, a float for an
        integer (:mod:`schedcore.guards`).

    Examples
    --------
    >>> s = one_cycle(1e-2)
    >>> s["lr"]([0, 0.25, 1]).tolist()
    [0.0004, 0.01, 1e-07]
    >>> s["mom"]([0, 0.25, 1]).round(4).tolist()
    [0.95, 0.85, 0.95]
    """
    lr = _lr(lr_max, n_groups)
    div, div_final = _positive(div, "div"), _positive(div_final, "div_final")
    pct_start = _pct(pct_start, "pct_start")
    start, end = _finite(lr / div, "lr_max / div"), _finite(lr / div_final, "lr_max / div_final")
    scheds: Scheds = {"lr": combined_cos(pct_start, start, lr, end)}
    if moms is not None:
        scheds["mom"] = combined_cos(pct_start, *_moms(moms))
    return scheds


def flat_cos(
    lr: ArrayLike, div_final: float = 1e5, pct_start: float = 0.75, n_groups: int | None = None
) -> Scheds:
    """Flat then cosine: ``lr`` for ``pct_start`` of training, then cosine to ``lr/div_final``.

    Parameters
    ----------
    lr : float, array of shape (G,), or slice
        Learning rate of the flat part (per group for an array or a slice with ``n_groups``).
    div_final : float, default 1e5
        The lr anneals towards ``lr / div_final``; finite and > 0.
    pct_start : float, default 0.75
        Fraction of training at the flat ``lr``, in [0, 1].
    n_groups : int, optional
        Number of parameter groups; needed when ``lr`` is a slice.

    Returns
    -------
    dict of str to Schedule
        ``{"lr": ...}``.

    Raises
    ------
    ValueError
        A non-finite or negative ``lr``, ``div_final`` <= 0 or ``pct_start`` outside [0, 1].
    TypeError
        A value of the wrong kind: a string, ``None`` or a bool for a number, a float for an
        integer (:mod:`schedcore.guards`).

    Examples
    --------
    >>> flat_cos(1.0)["lr"]([0, 0.5, 0.75, 1]).tolist()
    [1.0, 1.0, 1.0, 1e-05]
    """
    lr = _lr(lr, n_groups, "lr")
    div_final = _positive(div_final, "div_final")
    end = _finite(lr / div_final, "lr / div_final")
    return {"lr": combined_cos(_pct(pct_start, "pct_start"), lr, lr, end)}


def sgdr(
    n_cycles: int,
    cycle_len: float,
    lr_max: ArrayLike,
    cycle_mult: float = 2,
    min_lr: float = 0.0,
    cycle_decay: float = 1.0,
    n_groups: int | None = None,
) -> tuple[Scheds, int | float]:
    """SGDR (warm restarts): ``n_cycles`` cosines from a peak to ``min_lr``.

    Cycle ``i`` lasts ``cycle_len * cycle_mult**i`` epochs and peaks at
    ``lr_max * cycle_decay**i``. Works for ``cycle_mult == 1`` (where fastai's closed form divides
    by zero) and for float ``cycle_mult``.

    Parameters
    ----------
    n_cycles : int
        Number of cycles, >= 1.
    cycle_len : float
        Length of the first cycle in epochs, > 0.
    lr_max : float, array of shape (G,), or slice
        Peak learning rate of the first cycle (per group for an array or a slice with ``n_groups``).
    cycle_mult : float, default 2
        Each cycle is this many times longer than the one before; > 0.
    min_lr : float, default 0.0
        Learning rate each cycle ends at; finite and >= 0.
    cycle_decay : float, default 1.0
        Each cycle's peak is this many times the one before; > 0.
    n_groups : int, optional
        Number of parameter groups; needed when ``lr_max`` is a slice.

    Returns
    -------
    scheds : dict of str to Schedule
        ``{"lr": ...}`` over the whole run.
    n_epoch : int or float
        The total length in epochs (an int when every cycle length is whole).

    Raises
    ------
    ValueError
        ``n_cycles`` not a positive integer, a non-positive ``cycle_len``, ``cycle_mult`` or
        ``cycle_decay``, a negative or non-finite ``min_lr``, a non-finite or negative
        ``lr_max``, more than 100000 cycles, or cycles adding up beyond the float range.
    TypeError
        A value of the wrong kind: a string, ``None`` or a bool for a number, a float for an
        integer (:mod:`schedcore.guards`).

    Examples
    --------
    >>> scheds, n_epoch = sgdr(3, 1, 1.0)
    >>> n_epoch
    7
    >>> scheds["lr"]([0, 1 / 7, 3 / 7]).tolist()
    [1.0, 1.0, 1.0]
    >>> sgdr(3, 2, 1.0, cycle_mult=1)[1]
    6
    """
    n_cycles = check_int(n_cycles, "n_cycles", min=1, max=_MAX_CYCLES)
    cycle_len = _positive(cycle_len, "cycle_len")
    cycle_mult = _positive(cycle_mult, "cycle_mult")
    cycle_decay = _positive(cycle_decay, "cycle_decay")
    lr = _lr(lr_max, n_groups)
    min_lr = check_float(min_lr, "min_lr", min=0.0)
    i = np.arange(n_cycles)
    with np.errstate(over="ignore", under="ignore"):
        lengths = cycle_len * cycle_mult**i
        total = float(lengths.sum())
        peaks = [lr * np.float64(cycle_decay) ** k for k in range(n_cycles)]
    if not math.isfinite(total):
        raise ValueError(
            f"n_cycles={n_cycles} cycles of cycle_len={cycle_len!r} growing by cycle_mult={cycle_mult!r} "
            "add up to more epochs than a float holds"
        )
    _finite(peaks[-1], f"lr_max * cycle_decay**{n_cycles - 1}")
    pieces = [SchedCos(peak, min_lr) for peak in peaks]
    n_epoch: int | float = int(round(total)) if np.allclose(lengths, np.round(lengths)) else total
    return {"lr": combine_scheds(lengths / total, pieces)}, n_epoch


def lr_range(start_lr: ArrayLike = 1e-7, end_lr: ArrayLike = 10, mode: str = "exp") -> Scheds:
    """LR range test: ``start_lr -> end_lr``, exponentially (``mode="exp"``) or linearly.

    Parameters
    ----------
    start_lr : float or array of shape (G,), default 1e-7
        Learning rate at position 0.
    end_lr : float or array of shape (G,), default 10
        Learning rate at position 1.
    mode : {"exp", "linear"}, default "exp"
        ``"exp"`` is :class:`SchedExp` (both ends non-zero and of one sign), ``"linear"``
        :class:`SchedLin`.

    Returns
    -------
    dict of str to Schedule
        ``{"lr": ...}``.

    Raises
    ------
    ValueError
        An unknown ``mode``, negative or non-finite ends, or ends <= 0 with ``mode="exp"``.
    TypeError
        A value of the wrong kind: a string, ``None`` or a bool for a number, a float for an
        integer (:mod:`schedcore.guards`).

    Examples
    --------
    >>> lr_range()["lr"]([0, 0.5, 1]).round(10).tolist()
    [1e-07, 0.001, 10.0]
    >>> lr_range(0.0, 1.0, mode="linear")["lr"](0.5)
    0.5
    """
    if not isinstance(mode, str):
        raise TypeError(f"mode must be 'exp' or 'linear'; got {mode!r}")
    start_lr, end_lr = check_values(start_lr, "start_lr", min=0.0), check_values(end_lr, "end_lr", min=0.0)
    if mode == "exp":
        if np.any(np.asarray(start_lr) <= 0) or np.any(np.asarray(end_lr) <= 0):
            raise ValueError(f"mode='exp' needs start_lr and end_lr > 0; got start_lr={start_lr!r}, end_lr={end_lr!r}")
        return {"lr": SchedExp(start_lr, end_lr)}
    if mode == "linear":
        return {"lr": SchedLin(start_lr, end_lr)}
    raise ValueError(f"mode must be 'exp' or 'linear'; got {mode!r}")


def warmup_cosine(
    lr_max: ArrayLike,
    warmup_pct: float,
    min_lr: float = 0.0,
    warmup_start: float = 0.0,
    n_groups: int | None = None,
) -> Scheds:
    """Linear warmup from ``warmup_start`` to ``lr_max`` over ``warmup_pct``, then cosine to ``min_lr``.

    The usual transformer schedule. ``warmup_start`` may be non-zero so the very first step
    does not run at lr 0.

    Parameters
    ----------
    lr_max : float, array of shape (G,), or slice
        Peak learning rate, reached at the end of the warmup.
    warmup_pct : float
        Fraction of training spent warming up, in [0, 1].
    min_lr : float, default 0.0
        Learning rate the cosine ends at (position 1).
    warmup_start : float, default 0.0
        Learning rate at position 0.
    n_groups : int, optional
        Number of parameter groups; needed when ``lr_max`` is a slice.

    Returns
    -------
    dict of str to Schedule
        ``{"lr": ...}``.

    Raises
    ------
    ValueError
        A non-finite or negative ``lr_max``, ``min_lr`` or ``warmup_start``, or
        ``warmup_pct`` outside [0, 1].
    TypeError
        A value of the wrong kind: a string, ``None`` or a bool for a number, a float for an
        integer (:mod:`schedcore.guards`).

    Examples
    --------
    >>> warmup_cosine(1.0, 0.1)["lr"]([0, 0.05, 0.1, 0.55, 1]).round(6).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    lr = _lr(lr_max, n_groups)
    w = _pct(warmup_pct, "warmup_pct")
    min_lr, warmup_start = _lr(min_lr, None, "min_lr"), _lr(warmup_start, None, "warmup_start")
    return {"lr": combine_scheds([w, 1 - w], [SchedLin(warmup_start, lr), SchedCos(lr, min_lr)])}


_DECAYS = {
    "cos": lambda a, b: SchedCos(a, b),
    "linear": lambda a, b: SchedLin(a, b),
    "sqrt": lambda a, b: SchedPoly(a, b, 0.5),
}


def wsd(
    lr_max: ArrayLike,
    warmup_pct: float,
    decay_pct: float,
    min_lr: float = 0.0,
    decay: str = "cos",
    warmup_start: float = 0.0,
    n_groups: int | None = None,
) -> Scheds:
    """Warmup-stable-decay: linear warmup, a flat ``lr_max`` plateau, then a decay to ``min_lr``.

    The decay over the last ``decay_pct`` of training is ``"cos"``, ``"linear"`` or ``"sqrt"``
    (``lr_max - (lr_max - min_lr)*sqrt(p)``).

    Parameters
    ----------
    lr_max : float, array of shape (G,), or slice
        Learning rate of the plateau.
    warmup_pct : float
        Fraction of training spent warming up from ``warmup_start``, in [0, 1].
    decay_pct : float
        Fraction of training spent decaying at the end, in [0, 1]; ``warmup_pct + decay_pct <= 1``.
    min_lr : float, default 0.0
        Learning rate the decay ends at (position 1).
    decay : {"cos", "linear", "sqrt"}, default "cos"
        Shape of the decay.
    warmup_start : float, default 0.0
        Learning rate at position 0.
    n_groups : int, optional
        Number of parameter groups; needed when ``lr_max`` is a slice.

    Returns
    -------
    dict of str to Schedule
        ``{"lr": ...}``.

    Raises
    ------
    ValueError
        An unknown ``decay``, a non-finite or negative ``lr_max``, ``min_lr`` or
        ``warmup_start``, fractions outside [0, 1] or summing to more than 1.
    TypeError
        A value of the wrong kind: a string, ``None`` or a bool for a number, a float for an
        integer (:mod:`schedcore.guards`).

    Examples
    --------
    >>> wsd(1.0, 0.1, 0.2, decay="linear")["lr"]([0, 0.05, 0.5, 0.9, 1]).round(6).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    if not isinstance(decay, str):
        raise TypeError(f"decay must be one of {sorted(_DECAYS)}; got {decay!r}")
    if decay not in _DECAYS:
        raise ValueError(f"decay must be one of {sorted(_DECAYS)}; got {decay!r}")
    lr = _lr(lr_max, n_groups)
    min_lr, warmup_start = _lr(min_lr, None, "min_lr"), _lr(warmup_start, None, "warmup_start")
    w, d = _pct(warmup_pct, "warmup_pct"), _pct(decay_pct, "decay_pct")
    if w + d > 1 + 1e-12:
        raise ValueError(f"warmup_pct + decay_pct must be <= 1; got {w} + {d}")
    stable = max(0.0, 1.0 - w - d)
    pieces = [SchedLin(warmup_start, lr), SchedNo(lr, lr), _DECAYS[decay](lr, min_lr)]
    return {"lr": combine_scheds([w, stable, d], pieces)}


POLICIES = {
    "one_cycle": one_cycle,
    "flat_cos": flat_cos,
    "sgdr": sgdr,
    "lr_range": lr_range,
    "warmup_cosine": warmup_cosine,
    "wsd": wsd,
}


def get_policy(name: str):
    """Look up a policy function by name (``"one_cycle"``, ``"wsd"``, ...).

    Parameters
    ----------
    name : str
        A key of :data:`POLICIES`; ``-`` may stand for ``_`` (``"one-cycle"``).

    Returns
    -------
    callable
        The policy function.

    Raises
    ------
    ValueError
        An unknown name; the message lists the known ones.
    TypeError
        ``name`` is not a string.

    Examples
    --------
    >>> get_policy("flat_cos") is flat_cos
    True
    >>> get_policy("one-cycle") is one_cycle
    True
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a policy name (a str); got {name!r}")
    try:
        return POLICIES[name.replace("-", "_")]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; choose from {sorted(POLICIES)}") from None
