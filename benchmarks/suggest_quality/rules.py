"""The suggestion rules the benchmark compares, all taking the recorded LR-finder curves.

* ``valley``, ``slide``, ``minimum``, ``steep``: schedcore's (fastai's rules), run batched on
  the curves trimmed as ``lr_find`` trims them.
* ``torch-lr-finder (reimpl.)``: our reimplementation of the rule torch-lr-finder documents for
  its ``plot(suggest_lr=True)``: drop ``skip_start=10`` points at the start and ``skip_end=5``
  at the end, take the numerical gradient of the loss against the point index
  (``np.gradient``), suggest the lr where it is most negative ("steepest gradient").
* ``Lightning (reimpl.)``: our reimplementation of Lightning's ``_LRFinder.suggestion``
  (defaults ``skip_begin=10``, ``skip_end=1``): keep the finite losses, take their gradient
  (central differences, against ``log10(lr)`` in exponential mode, which for an exponential
  schedule picks the same point as against the index), suggest the lr at its minimum.

Both peers are applied to *our* recorded curve (lr 1e-7 to 10, 100 iterations, smoothed with
beta 0.98, stopped when the smoothed loss exceeds 4x its minimum). Their own finders differ a
little (torch-lr-finder smooths with 0.05 and stops at 5x; Lightning defaults to 1e-8 .. 1), so
these rows measure their *rules*, not their whole tools.
"""

from __future__ import annotations

import warnings

import numpy as np

from schedcore.suggest import SuggestionWarning, minimum, slide, steep, valley


def _per_curve(fn):
    def rule(b, lrs, losses):
        T, K, _ = losses.shape
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SuggestionWarning)
            out = fn(lrs.reshape(T * K, -1), losses.reshape(T * K, -1))[0]
        return np.asarray(out, dtype=float).reshape(T, K)

    return rule


def _steepest_after_skip(b, skip_start: int, skip_end: int, finite_only: bool) -> np.ndarray:
    T, K, _ = b.raw_losses.shape
    out = np.full((T, K), np.nan)
    for t in range(T):
        for k in range(K):
            ok = ~np.isnan(b.raw_losses[t, k])  # the recorded points
            x, y = b.raw_lrs[t, k, ok], b.raw_losses[t, k, ok]
            x, y = x[skip_start : len(x) - skip_end], y[skip_start : len(y) - skip_end]
            if finite_only:
                keep = np.isfinite(y)
                x, y = x[keep], y[keep]
            if len(y) >= 2:
                out[t, k] = x[np.argmin(np.gradient(y))]
    return out


def torch_lr_finder_rule(b, lrs, losses) -> np.ndarray:
    return _steepest_after_skip(b, 10, 5, finite_only=False)


def lightning_rule(b, lrs, losses) -> np.ndarray:
    return _steepest_after_skip(b, 10, 1, finite_only=True)


PEER_RULES = {
    "valley": _per_curve(valley),
    "slide": _per_curve(slide),
    "minimum": _per_curve(minimum),
    "steep": _per_curve(steep),
    "torch-lr-finder (reimpl.)": torch_lr_finder_rule,
    "Lightning (reimpl.)": lightning_rule,
}
