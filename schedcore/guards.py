"""One family of argument guards for every public entry point (scipy's ``_len_guards`` idea).

Each guard takes the value and the parameter's name, returns the value converted (a Python
``int``/``float`` or a float64 array) and raises with the parameter and the value in the
message:

* ``TypeError`` for the wrong kind of thing: a string, ``None``, a ``bool`` where a number is
  expected (``True`` is not 1 here), a float where an integer is expected (``10.0`` is not an
  integer step count: pass ``10``);
* ``ValueError`` for a number of the right kind with a bad value: NaN, an infinity, out of range.

numpy scalars (``np.int64``, ``np.float32``) count as the Python numbers they hold; a 0-d
tensor or array counts as a number.

>>> check_int(10, "n_steps", min=1)
10
>>> check_int(10.0, "n_steps", min=1)
Traceback (most recent call last):
...
TypeError: n_steps must be an integer; got 10.0 (float)
>>> check_float(float("nan"), "min_lr", min=0)
Traceback (most recent call last):
...
ValueError: min_lr must be a finite number >= 0; got nan
"""

from __future__ import annotations

import math
import numbers
import operator
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["check_int", "check_float", "check_positive", "check_fraction", "check_values", "as_array", "check_path"]


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def _scalar(value: Any) -> Any:
    """A 0-d array or tensor -> its Python number; anything else unchanged."""
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
        value = value.item()
    return value


def _range_text(min: float | None, max: float | None, min_open: bool, max_open: bool) -> str:
    parts = []
    if min is not None:
        parts.append(f"{'>' if min_open else '>='} {min:g}")
    if max is not None:
        parts.append(f"{'<' if max_open else '<='} {max:g}")
    return " and ".join(parts)


def check_int(value: Any, name: str, *, min: int | None = None, max: int | None = None) -> int:
    """``value`` as an ``int``: a Python or numpy integer (not a bool, not a float), in range.

    Parameters
    ----------
    value : object
        The value to check (a 0-d array or one-element tensor counts as its scalar).
    name : str
        The parameter's name, used in the error message.
    min, max : int, optional
        Inclusive bounds.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        ``value`` is not an integer (a bool, a float such as ``10.0``, a string, ``None``).
    ValueError
        ``value`` is outside ``[min, max]``.

    Examples
    --------
    >>> check_int(True, "n_groups")
    Traceback (most recent call last):
    ...
    TypeError: n_groups must be an integer; got True (bool)
    >>> check_int(0, "n_groups", min=1)
    Traceback (most recent call last):
    ...
    ValueError: n_groups must be an integer >= 1; got 0
    """
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer; got {_describe(value)}")
    n = operator.index(value)
    if (min is not None and n < min) or (max is not None and n > max):
        raise ValueError(f"{name} must be an integer {_range_text(min, max, False, False)}; got {n!r}")
    return n


def check_float(
    value: Any,
    name: str,
    *,
    min: float | None = None,
    max: float | None = None,
    min_open: bool = False,
    max_open: bool = False,
) -> float:
    """``value`` as a finite ``float`` in range (``min_open``: strictly greater than ``min``).

    Parameters
    ----------
    value : object
        The value to check (a Python or numpy real number; an int too large for a float counts
        as infinite).
    name : str
        The parameter's name, used in the error message.
    min, max : float, optional
        Bounds, inclusive unless ``min_open``/``max_open``.
    min_open, max_open : bool, default False
        Make the corresponding bound strict.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        ``value`` is not a number (a bool, a string, ``None``, a list).
    ValueError
        ``value`` is NaN, infinite or out of range.

    Examples
    --------
    >>> check_float("1e-3", "lr")
    Traceback (most recent call last):
    ...
    TypeError: lr must be a number; got '1e-3' (str)
    >>> check_float(-1.0, "lr", min=0)
    Traceback (most recent call last):
    ...
    ValueError: lr must be a finite number >= 0; got -1.0
    """
    if type(value) is float:  # the common case, checked below without the conversions
        x = value
    else:
        value = _scalar(value)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
            raise TypeError(f"{name} must be a number; got {_describe(value)}")
        try:
            x = float(value)
        except OverflowError:  # an int too large for a float: not finite, whatever its sign
            x = math.inf
    bad = not math.isfinite(x)
    bad = bad or (min is not None and (x <= min if min_open else x < min))
    bad = bad or (max is not None and (x >= max if max_open else x > max))
    if bad:
        if min is not None and max is not None and not (min_open or max_open):
            raise ValueError(f"{name} must be a number in [{min:g}, {max:g}]; got {value!r}")
        rng = _range_text(min, max, min_open, max_open)
        raise ValueError(f"{name} must be a finite number{' ' + rng if rng else ''}; got {value!r}")
    return x


def check_positive(value: Any, name: str) -> float:
    """A finite number > 0.

    Parameters
    ----------
    value : object
        The value to check.
    name : str
        The parameter's name, used in the error message.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        ``value`` is not a number.
    ValueError
        ``value`` is not finite or not > 0.

    Examples
    --------
    >>> check_positive(0, "div")
    Traceback (most recent call last):
    ...
    ValueError: div must be a finite number > 0; got 0
    """
    return check_float(value, name, min=0.0, min_open=True)


def check_fraction(value: Any, name: str) -> float:
    """A number in [0, 1].

    Parameters
    ----------
    value : object
        The value to check.
    name : str
        The parameter's name, used in the error message.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        ``value`` is not a number.
    ValueError
        ``value`` is outside [0, 1] or NaN.

    Examples
    --------
    >>> check_fraction(1.5, "pct_start")
    Traceback (most recent call last):
    ...
    ValueError: pct_start must be a number in [0, 1]; got 1.5
    """
    return check_float(value, name, min=0.0, max=1.0)


def as_array(value: Any, name: str) -> np.ndarray:
    """``value`` (number, list, array, tensor) as a float64 array; ``TypeError`` naming ``name``
    for strings, bools, ``None`` and other non-numbers (never numpy's own message).

    Parameters
    ----------
    value : object
        A number, a (nested) list, an array or a tensor (moved to the host).
    name : str
        The parameter's name, used in the error message.

    Returns
    -------
    ndarray of float64

    Raises
    ------
    TypeError
        Non-numeric contents.
    ValueError
        Ragged nesting.

    Examples
    --------
    >>> as_array([1, 2], "lrs").tolist()
    [1.0, 2.0]
    >>> as_array(["a"], "lrs")
    Traceback (most recent call last):
    ...
    TypeError: lrs must hold numbers; got ['a'] (list)
    """
    raw = value
    if hasattr(raw, "detach") and hasattr(raw, "cpu") and hasattr(raw, "numpy"):
        raw = raw.detach().cpu().numpy()
    try:
        raw = np.asarray(raw)
    except (ValueError, TypeError):  # ragged nesting
        raise ValueError(f"{name} must be a number or a regular (non-ragged) array of numbers; got {_describe(value)}") from None
    if raw.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers; got {_describe(value)}")
    return raw.astype(np.float64, copy=False)


def check_values(value: Any, name: str, *, min: float | None = None, ndim: tuple[int, ...] = (0, 1)) -> float | np.ndarray:
    """A finite number, or a non-empty float64 array of finite numbers (per-group values).

    Lists, tuples, arrays and tensors (any device) are accepted; strings, bools and ``None``
    are a ``TypeError``; NaN, infinities and values below ``min`` a ``ValueError`` that shows
    the first bad one.

    Parameters
    ----------
    value : object
        A number or a list/array/tensor of numbers.
    name : str
        The parameter's name, used in the error message.
    min : float, optional
        Smallest allowed value.
    ndim : tuple of int, default (0, 1)
        Allowed numbers of dimensions for arrays.

    Returns
    -------
    float or ndarray

    Raises
    ------
    TypeError
        Strings, bools, ``None`` or other non-numbers.
    ValueError
        NaN, infinities, values below ``min``, an empty array or a wrong number of dimensions.

    Examples
    --------
    >>> check_values([1e-3, 1e-2], "lr_max").tolist()
    [0.001, 0.01]
    >>> check_values([1e-3, float("inf")], "lr_max")
    Traceback (most recent call last):
    ...
    ValueError: lr_max must hold finite numbers; got inf at index 1 of [0.001, inf]
    """
    if type(value) is float:
        return check_float(value, name, min=min)
    value = _scalar(value)
    if not isinstance(value, (list, tuple, np.ndarray)) and not hasattr(value, "__array__"):
        return check_float(value, name, min=min)
    a = as_array(value, name)
    if a.ndim not in ndim:
        dims = " or ".join(f"{d}-D" for d in ndim)
        raise ValueError(f"{name} must be {dims}; got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must not be empty; got {_describe(value)}")
    bad = ~np.isfinite(a) if min is None else ~(np.isfinite(a) & (a >= min))
    if bad.any():
        i = np.argwhere(bad)[0]
        where = f" at index {int(i[0]) if len(i) == 1 else tuple(i.tolist())}" if a.ndim else ""
        need = "finite numbers" if min is None else f"finite numbers >= {min:g}"
        raise ValueError(f"{name} must hold {need}; got {float(a[tuple(i)])!r}{where} of {_short(a)}")
    return float(a) if a.ndim == 0 else a


def _short(a: np.ndarray) -> str:
    flat = a.ravel().tolist()
    return "[" + ", ".join(map(repr, flat[:6])) + (", ...]" if len(flat) > 6 else "]")


def check_path(value: Any, name: str = "path") -> Path:
    """``value`` (a ``str`` or path-like) as a :class:`pathlib.Path`; ``TypeError`` naming ``name``
    for anything else (numbers, ``None``, bytes).

    Parameters
    ----------
    value : object
        The path.
    name : str, default "path"
        The parameter's name, used in the error message.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    TypeError
        ``value`` is neither a ``str`` nor ``os.PathLike``.

    Examples
    --------
    >>> check_path("t.csv").name
    't.csv'
    >>> check_path(None)
    Traceback (most recent call last):
    ...
    TypeError: path must be a str or os.PathLike; got None (NoneType)
    """
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike; got {_describe(value)}")
    return Path(value)
