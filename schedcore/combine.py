"""Combining schedules: piecewise schedules over consecutive fractions of training.

>>> f = combine_scheds([0.3, 0.2, 0.5], [SchedLin(0, 1), SchedNo(1, 1), SchedCos(1, 0)])
>>> f([0, 0.15, 0.3, 0.4, 0.5, 0.7, 1]).round(5).tolist()
[0.0, 0.5, 1.0, 1.0, 1.0, 0.65451, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .annealers import ArrayLike, SchedCos, SchedLin, SchedNo, Schedule, _into, _n_groups, as_schedule  # noqa: F401  (used by the doctests)
from .guards import as_array, check_fraction, check_values

__all__ = ["CombinedSchedule", "combine_scheds", "combined_cos"]

_PCT_TOL = 1e-6


def _check_pcts(pcts: ArrayLike, n_scheds: int) -> np.ndarray:
    p = as_array(pcts, "pcts")
    if p.ndim != 1:
        raise ValueError(f"pcts must be a 1-D sequence of fractions; got {pcts!r}")
    if len(p) != n_scheds:
        raise ValueError(f"got {len(p)} pcts for {n_scheds} schedules; they must match")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"pcts must be finite and >= 0; got {p.tolist()}")
    total = p.sum()
    if abs(total - 1.0) > _PCT_TOL:
        raise ValueError(f"pcts must sum to 1 (within {_PCT_TOL}); got {p.tolist()}, sum {float(total)!r}")
    return p


class CombinedSchedule(Schedule):
    """Piecewise schedule: piece ``i`` covers ``[c_i, c_{i+1})`` with ``c = cumsum([0] + pcts)``.

    Piece ``i`` is evaluated at the local position ``(pos - c_i) / (c_{i+1} - c_i)``. A position
    exactly on a boundary belongs to the later piece; ``pos == 1`` gives the last non-empty
    piece at local position 1. Zero-width pieces are never evaluated. Evaluation is one
    ``searchsorted`` plus one vectorised call per piece.
    """

    def __init__(self, pcts: ArrayLike, scheds: Sequence[Schedule]):
        try:
            if isinstance(scheds, (str, bytes, Schedule)):
                raise TypeError
            scheds = list(scheds)
        except TypeError:
            raise TypeError(f"scheds must be a sequence of schedules; got {scheds!r}") from None
        if not scheds:
            raise ValueError("scheds must not be empty")
        scheds = [as_schedule(s, f"scheds[{i}]") for i, s in enumerate(scheds)]  # plain callables too
        self.pcts = _check_pcts(pcts, len(scheds))
        self.scheds = scheds
        self.n_groups = _n_groups(*(np.empty(s.n_groups) for s in scheds if s.n_groups))
        # Dividing by the total makes the last boundary exactly 1 and keeps empty pieces empty.
        self.bounds = np.cumsum(np.concatenate([[0.0], self.pcts])) / self.pcts.sum()
        self._live = np.flatnonzero(self.bounds[1:] > self.bounds[:-1])

    def _piece(self, i: int, p: np.ndarray, is_sorted: bool, out: np.ndarray | None = None) -> np.ndarray:
        lo, hi = float(self.bounds[i]), float(self.bounds[i + 1])  # Python floats: float32 stays float32
        # Local positions go straight into ``out`` when shapes allow (the pieces evaluate in
        # place). (p - lo) / (hi - lo) lies in [0, 1] for lo <= p <= hi: rounding is monotone.
        scratch = out if out is not None and out.shape == p.shape else None
        local = np.subtract(p, lo, out=scratch)
        if hi - lo != 1.0:
            local /= hi - lo
        if self.n_groups and not self.scheds[i].n_groups:  # a scalar piece among per-group ones
            return _into(out, self.scheds[i]._eval(local, is_sorted)[..., None])
        return self.scheds[i]._eval(local, is_sorted, out)

    def _eval(self, p: np.ndarray, is_sorted: bool = False, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            out = np.empty(p.shape + ((self.n_groups,) if self.n_groups else ()))
        inner = self.bounds[1:-1]
        last = self._live[-1]
        if is_sorted and p.ndim == 1:
            # Contiguous runs: piece i owns p[cut[i]:cut[i+1]]; each writes its run in place.
            cuts = np.concatenate([[0], np.searchsorted(p, _bounds_like(inner, p), side="left"), [len(p)]])
            cuts[last + 1 :] = len(p)  # pos == 1 goes to the last non-empty piece
            for i in self._live:
                a, b = cuts[i], cuts[i + 1]
                if b > a:
                    self._piece(i, p[a:b], True, out[a:b])
            return out
        idx = np.searchsorted(inner, p, side="right")
        np.minimum(idx, last, out=idx)
        for i in self._live:
            mask = idx == i
            if mask.any():
                out[mask] = self._piece(i, p[mask], False)
        return out

    def __repr__(self) -> str:
        return f"combine_scheds({self.pcts.tolist()}, {self.scheds!r})"


def _bounds_like(bounds: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``bounds`` in ``p``'s dtype, each rounded up to the nearest representable value, so that
    ``p < bound`` is unchanged and ``searchsorted`` does not copy ``p`` to float64 (float32 tables)."""
    if p.dtype == bounds.dtype:
        return bounds
    q = bounds.astype(p.dtype)
    return np.where(q < bounds, np.nextafter(q, np.array(np.inf, dtype=p.dtype)), q)


def combine_scheds(pcts: ArrayLike, scheds: Sequence[Schedule]) -> CombinedSchedule:
    """Combine ``scheds`` so that ``scheds[i]`` runs over the fraction ``pcts[i]`` of training.

    ``pcts`` must be finite, ``>= 0``, as many as ``scheds``, and sum to 1 within 1e-6
    (fastai's exact float comparison rejects ``[0.7, 0.2, 0.1]``; this does not). A piece may
    be any callable of ``pos`` (see :class:`~schedcore.annealers.FuncSchedule`).

    Parameters
    ----------
    pcts : sequence of float
        Fraction of training for each piece.
    scheds : sequence of Schedule or callable
        One schedule per piece, each evaluated at its local position in [0, 1].

    Returns
    -------
    CombinedSchedule
        Piece ``i`` covers ``[c_i, c_{i+1})`` with ``c = cumsum([0] + pcts)``; a boundary belongs
        to the later piece.

    Raises
    ------
    ValueError
        ``pcts`` and ``scheds`` of different lengths, a negative or non-finite ``pcts`` entry, or
        ``pcts`` not summing to 1 within 1e-6.
    TypeError
        A piece that is not callable, ``scheds`` not a sequence, or ``pcts`` not numbers.

    Examples
    --------
    >>> f = combine_scheds([0.5, 0.5], [SchedLin(0, 1), SchedLin(1, 0)])
    >>> f([0.0, 0.25, 0.5, 0.75, 1.0]).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    >>> combine_scheds([0.7, 0.2, 0.1], [SchedNo(1, 1)] * 3)(0.8)
    1.0
    >>> combine_scheds([0.5, 0.5], [lambda p: 1 - p, SchedLin(0, 3)])([0.25, 0.75]).tolist()
    [0.5, 1.5]
    """
    return CombinedSchedule(pcts, scheds)


def combined_cos(pct: float, start: ArrayLike, middle: ArrayLike, end: ArrayLike) -> CombinedSchedule:
    """Cosine from ``start`` to ``middle`` over ``pct`` of training, then to ``end``.

    The 1cycle building block: ``combine_scheds([pct, 1-pct], [SchedCos(start, middle),
    SchedCos(middle, end)])``.

    Parameters
    ----------
    pct : float
        Fraction of training of the first cosine, in [0, 1].
    start, middle, end : float or array of shape (G,)
        Values at positions 0, ``pct`` and 1; arrays give one value per parameter group.

    Returns
    -------
    CombinedSchedule

    Raises
    ------
    ValueError
        ``pct`` outside [0, 1] or not finite, or per-group arrays of different lengths.
    TypeError
        A string, ``None`` or a bool for a number.

    Examples
    --------
    >>> combined_cos(0.25, 0.5, 1, 0)([0, 0.1, 0.25, 0.5, 1]).round(5).tolist()
    [0.5, 0.67275, 1.0, 0.75, 0.0]
    """
    pct = check_fraction(pct, "pct")
    for name, value in (("start", start), ("middle", middle), ("end", end)):
        check_values(value, name)
    return combine_scheds([pct, 1.0 - pct], [SchedCos(start, middle), SchedCos(middle, end)])
