"""Plain callables as schedules: the one rule for evaluating ``f(pos)`` on a whole position array.

fastai accepts any callable of ``pos`` wherever a schedule goes (a lambda, a ``def``, a
``functools.partial``, an object with ``__call__``), usually written for one Python float at a
time. Tables still evaluate each schedule **once**:

1. call ``f`` once on the whole position array; if it returns an array of the positions' shape
   (or that shape plus one trailing per-group axis), that is the answer;
2. otherwise -- it raised (``math.sqrt(array)``, ``if pos < .5`` on an array), or returned a
   scalar or another shape -- call it once per position, with Python floats, and stack.

A scalar-only function is thus slower to *build* a table from (one Python call per step), never
slower per training step: training reads the table.

>>> import math
>>> evaluate_callable(lambda p: 1 - p, np.array([0.0, 0.5])).tolist()
[1.0, 0.5]
>>> evaluate_callable(math.sqrt, np.array([0.0, 0.25])).tolist()
[0.0, 0.5]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from .guards import as_array, check_int

__all__ = ["evaluate_callable"]


def _name(f: Callable) -> str:
    inner = getattr(f, "func", f)  # a functools.partial's function
    return getattr(inner, "__qualname__", type(inner).__name__)


def evaluate_callable(f: Callable, pos: np.ndarray, n_groups: int | None = None) -> np.ndarray:
    """Evaluate ``f`` at every position of the float array ``pos``: vectorised once, else per position.

    With ``n_groups`` given, the vectorised call receives ``pos[..., None]`` (so that ``f``
    broadcasts against per-group arrays it holds).

    Parameters
    ----------
    f : callable
        A schedule written for arrays or for one float.
    pos : ndarray
        Positions in [0, 1].
    n_groups : int, optional
        Number of parameter groups the values are for.

    Returns
    -------
    ndarray
        float64, shape ``pos.shape`` (or ``pos.shape + (G,)`` when ``f`` gives G per-group
        values; ``pos.shape + (n_groups,)`` with ``n_groups``).

    Raises
    ------
    Exception
        An error raised by ``f`` at a single position propagates.
    ValueError
        Values of a shape that fits neither ``pos`` nor the group count.

    Examples
    --------
    >>> calls = []
    >>> def f(p):
    ...     calls.append(np.ndim(p))
    ...     return 2 * p
    >>> evaluate_callable(f, np.linspace(0, 1, 5)).tolist(), calls  # one vectorised call
    ([0.0, 0.5, 1.0, 1.5, 2.0], [1])
    >>> def step(p):
    ...     return 1.0 if p < 0.5 else 0.1
    >>> evaluate_callable(step, np.array([0.25, 0.75])).tolist()  # per position
    [1.0, 0.1]
    """
    if not callable(f):
        raise TypeError(f"a schedule must be callable (a function of pos); got {f!r}")
    pos = as_array(pos, "pos")
    n_groups = None if n_groups is None else check_int(n_groups, "n_groups", min=1)
    want = pos.shape + ((n_groups,) if n_groups else ())
    try:
        with warnings.catch_warnings():
            # numpy's "size-1 array to scalar" conversion (math.sqrt(array([x]))) is scalar code
            warnings.simplefilter("error", DeprecationWarning)
            v = np.asarray(f(pos[..., None] if n_groups else pos), dtype=np.float64)
        if v.ndim == len(want) and v.shape[: pos.ndim] == pos.shape and (not n_groups or v.shape[-1] in (1, n_groups)):
            return np.broadcast_to(v, want).copy() if n_groups else v
        if not n_groups and v.ndim == pos.ndim + 1 and v.shape[: pos.ndim] == pos.shape:
            return v  # a plain function giving per-group values
    except Exception:  # scalar-only code: fall back to one call per position
        pass
    flat = pos.ravel()
    values = np.asarray([f(float(x)) for x in flat], dtype=np.float64)
    if values.ndim > 2:
        raise ValueError(f"schedule {_name(f)} returned values of shape {values.shape[1:]} at one position")
    values = values.reshape(pos.shape + values.shape[1:])
    if not n_groups:
        return values
    return np.broadcast_to(values[..., None] if values.ndim == pos.ndim else values, want).copy()
