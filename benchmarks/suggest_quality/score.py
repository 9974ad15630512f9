"""Score learning-rate suggesters offline against the benchmark's training outcomes (``data.json``).

Definitions (also in ``README.md`` here):

* **Outcome** of ``lr_max`` on a task: the final validation loss of ``fit_one_cycle`` at that
  ``lr_max``, with a run that diverged (a NaN/inf loss, or a loss above the untrained model's)
  counted as the untrained model's validation loss, averaged over the grid seeds.
  ``L(lr)`` is this outcome interpolated linearly in ``log10(lr)`` between grid points, and held
  at the end values outside the grid (1e-6 .. 10).
* **Best**: ``L* = min`` over the grid, at ``lr*``.
* **Regret** of a suggestion ``s``: ``L(s) / L* - 1`` (0 is the best grid point; 1.0 means twice
  the best loss). **Distance**: ``|log10(s) - log10(lr*)|`` in decades.
* A rule that suggests one lr per LR-finder curve is scored per curve (3 seeds) and the task's
  score is the mean over those seeds (the expected result of running lr_find once). A ``nan``
  suggestion counts as the untrained loss (regret ``L0 / L* - 1``).

Everything is numpy on a few hundred curves: scoring all rules takes milliseconds.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from schedcore.suggest import trim_curve  # noqa: E402


@dataclass
class Bench:
    names: list[str]
    descriptions: list[str]
    grid: np.ndarray  # (G,) lr_max values
    outcome: np.ndarray  # (T, G) mean over seeds of the capped validation loss
    outcome_seeds: np.ndarray  # (T, S, G)
    init: np.ndarray  # (T,) untrained validation loss (mean over seeds)
    metric: np.ndarray  # (T, G) mean metric over seeds
    metric_names: list[str]
    raw_lrs: np.ndarray  # (T, K, n) recorded lr_find curves, NaN-padded
    raw_losses: np.ndarray  # (T, K, n)
    num_it: int

    @property
    def best(self) -> np.ndarray:
        return self.outcome.min(1)

    @property
    def best_lr(self) -> np.ndarray:
        return self.grid[self.outcome.argmin(1)]

    def trimmed(self) -> tuple[np.ndarray, np.ndarray]:
        """Each curve trimmed as ``lr_find`` does before suggesting (``[num_it//10 : -5]`` of the
        recorded points), NaN-padded into ``(T, K, m)`` arrays."""
        T, K, n = self.raw_losses.shape
        m = n - self.num_it // 10 - 5
        lrs, losses = np.full((T, K, m), np.nan), np.full((T, K, m), np.nan)
        for t in range(T):
            for k in range(K):
                ok = ~np.isnan(self.raw_losses[t, k])
                x, y = trim_curve(self.raw_lrs[t, k, ok], self.raw_losses[t, k, ok], self.num_it)
                lrs[t, k, : len(x)], losses[t, k, : len(y)] = x, y
        # pad lrs with the geometric schedule so that every row is positive and increasing
        for t in range(T):
            for k in range(K):
                row = lrs[t, k]
                j = int(np.isnan(row).argmax()) if np.isnan(row).any() else m
                if 2 <= j < m:
                    step = row[j - 1] / row[j - 2]
                    row[j:] = row[j - 1] * step ** np.arange(1, m - j + 1)
        return lrs, losses


def load(path: Path = HERE / "data.json") -> Bench:
    d = json.loads(Path(path).read_text())
    grid = np.array(d["grid_lrs"], dtype=float)
    tasks = d["tasks"]
    f = lambda v: np.array(v, dtype=float)  # noqa: E731  (None -> nan)
    loss = np.stack([f(t["valid_loss"]) for t in tasks])  # (T, S, G)
    init = np.stack([f(t["init_valid_loss"]) for t in tasks])  # (T, S)
    capped = np.where(np.isfinite(loss) & (loss < init[:, :, None]), loss, init[:, :, None])
    n = max(len(c["losses"]) for t in tasks for c in t["curves"])
    K = len(tasks[0]["curves"])
    raw_lrs, raw_losses = np.full((len(tasks), K, n), np.nan), np.full((len(tasks), K, n), np.nan)
    for i, t in enumerate(tasks):
        for k, c in enumerate(t["curves"]):
            raw_lrs[i, k, : len(c["lrs"])] = f(c["lrs"])
            raw_losses[i, k, : len(c["losses"])] = f(c["losses"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a metric that is NaN at every seed stays NaN
        metric = np.nanmean(f([t["metric"] for t in tasks]), axis=1)
    return Bench(
        names=[t["name"] for t in tasks], descriptions=[t["description"] for t in tasks], grid=grid,
        outcome=capped.mean(1), outcome_seeds=capped, init=init.mean(1),
        metric=metric, metric_names=[t["metric_name"] for t in tasks],
        raw_lrs=raw_lrs, raw_losses=raw_losses, num_it=int(d["find_settings"]["num_it"]),
    )  # fmt: skip


def loss_at(b: Bench, lrs: np.ndarray) -> np.ndarray:
    """``L(lr)`` for suggestions of shape ``(T, ...)``: log-linear interpolation on the grid."""
    lrs = np.asarray(lrs, dtype=float)
    out = np.empty(lrs.shape)
    lg = np.log10(b.grid)
    for t in range(lrs.shape[0]):
        x = np.log10(np.where(np.isfinite(lrs[t]) & (lrs[t] > 0), lrs[t], 1.0))
        out[t] = np.interp(x, lg, b.outcome[t])
        out[t] = np.where(np.isfinite(lrs[t]) & (lrs[t] > 0), out[t], b.init[t])
    return out


def regret(b: Bench, lrs: np.ndarray) -> np.ndarray:
    """``L(s)/L* - 1`` per suggestion; ``lrs`` of shape ``(T,)`` or ``(T, K)``."""
    lrs = np.asarray(lrs, dtype=float)
    best = b.best.reshape((-1,) + (1,) * (lrs.ndim - 1))
    return loss_at(b, lrs) / best - 1


def distance(b: Bench, lrs: np.ndarray) -> np.ndarray:
    lrs = np.asarray(lrs, dtype=float)
    best = b.best_lr.reshape((-1,) + (1,) * (lrs.ndim - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(np.log10(lrs) - np.log10(best))


@dataclass
class Score:
    name: str
    suggestions: np.ndarray  # (T,) or (T, K)
    regret: np.ndarray  # (T,) mean over seeds
    distance: np.ndarray  # (T,) mean over seeds (decades)

    def summary(self, idx=None) -> dict[str, float]:
        r = self.regret if idx is None else self.regret[idx]
        d = self.distance if idx is None else self.distance[idx]
        return {"median_regret": float(np.median(r)), "worst_regret": float(np.max(r)),
                "mean_regret": float(np.mean(r)), "median_decades": float(np.nanmedian(d)),
                "worst_decades": float(np.nanmax(d))}  # fmt: skip


def score(b: Bench, name: str, sugg: np.ndarray) -> Score:
    sugg = np.asarray(sugg, dtype=float)
    r, d = regret(b, sugg), distance(b, sugg)
    if sugg.ndim == 2:
        r, d = r.mean(1), np.nanmean(np.where(np.isfinite(d), d, np.nan), 1)
    return Score(name, sugg, r, d)


def constant_regret(b: Bench, lrs: np.ndarray) -> np.ndarray:
    """Regret of each constant in ``lrs`` on every task: ``(T, len(lrs))``."""
    return regret(b, np.broadcast_to(np.asarray(lrs, dtype=float), (len(b.names), len(lrs))))


def best_constant(b: Bench, idx=None, candidates: np.ndarray | None = None) -> float:
    """The constant lr with the lowest median regret (ties: lowest mean) over tasks ``idx``."""
    cands = 10.0 ** np.linspace(-6, 1, 141) if candidates is None else candidates
    r = constant_regret(b, cands)
    r = r if idx is None else r[idx]
    key = np.lexsort((r.mean(0), np.median(r, 0)))
    return float(cands[key[0]])


def run_rules(b: Bench, rules: dict[str, Callable]) -> dict[str, Score]:
    """Each rule gets the trimmed curves ``(T, K, m)`` (lrs, losses) and the raw ones, and
    returns suggestions of shape ``(T, K)`` (one per curve) or ``(T,)`` (one per task)."""
    lrs, losses = b.trimmed()
    return {name: score(b, name, rule(b, lrs, losses)) for name, rule in rules.items()}
