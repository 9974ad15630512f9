"""Generate the benchmark's data: LR-finder curves and fit_one_cycle outcomes for every task.

For each task of :mod:`tasks`: ``lr_find()`` (defaults: 1e-7 to 10, 100 iterations) for 3 seeds,
and ``fit_one_cycle(epochs, lr_max)`` for every ``lr_max`` of :data:`GRID` (29 points, a quarter
of a decade apart, 1e-6 to 10) and 2 seeds, recording the final validation loss and metric and
the untrained model's validation loss. Each task's result is cached as ``<cache>/<task>.json``
as soon as it is done (a rerun skips cached tasks), then all are gathered into ``data.json``
(format: see ``README.md`` here). One torch thread per worker process; run it under ``nice``.

    python benchmarks/suggest_quality/generate.py [--workers 2] [--tasks a,b] [--out data.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import warnings
from multiprocessing import get_context
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

GRID = 10.0 ** np.linspace(-6, 1, 29)
GRID_SEEDS = (0, 1)
FIND_SEEDS = (0, 1, 2)
FIND = {"start_lr": 1e-7, "end_lr": 10.0, "num_it": 100}
SLOW = ("char_gru_sgd", "digits_cnn_adamw", "digits_cnn_bn_sgd", "char_mlp_sgd", "char_mlp_adamw")
FORMAT = "schedcore suggest_quality v1"


def _r(x: float) -> float | None:
    """6 significant digits; None for NaN/inf (JSON has neither)."""
    return float(f"{x:.6g}") if math.isfinite(x) else None


def run_task(name: str, cache: Path, grid=GRID) -> dict:
    import torch
    from tasks import TASKS_BY_NAME

    from schedcore import load_curve

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    task = TASKS_BY_NAME[name]
    start = time.perf_counter()
    curves = []
    for seed in FIND_SEEDS:
        learn = task.build(seed)
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "curve.npz"
            learn.lr_find(show_plot=False, save_to=f, **FIND)
            c = load_curve(f)
        curves.append({"seed": seed, "lrs": [_r(v) for v in c.lrs], "losses": [_r(v) for v in c.losses],
                       "raw_losses": [_r(v) for v in c.raw_losses]})  # fmt: skip
    loss = np.full((len(GRID_SEEDS), len(grid)), np.nan)
    metric = np.full_like(loss, np.nan)
    init = []
    fit_times = []
    for s, seed in enumerate(GRID_SEEDS):
        init.append(task.build(seed).validate()[0])
        for i, lr in enumerate(grid):
            learn = task.build(seed)
            t0 = time.perf_counter()
            with learn.no_logging():
                learn.fit_one_cycle(task.epochs, lr_max=float(lr))
            loss[s, i], metric[s, i] = learn.validate()[:2]
            fit_times.append(time.perf_counter() - t0)
    out = {
        "name": name, "description": task.description, "epochs": task.epochs, "metric_name": task.metric,
        "init_valid_loss": [_r(v) for v in init],
        "valid_loss": [[_r(v) for v in row] for row in loss],
        "metric": [[_r(v) for v in row] for row in metric],
        "curves": curves,
        "median_fit_s": _r(float(np.median(fit_times))),
        "seconds": _r(time.perf_counter() - start),
    }  # fmt: skip
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f".{name}.json.tmp"
        tmp.write_text(json.dumps(out))
        os.replace(tmp, cache / f"{name}.json")
    best = np.nanargmin(np.nanmean(loss, 0))
    print(f"{name:<34} {out['seconds']:7.1f} s  fit {out['median_fit_s']:.2f} s  best lr {grid[best]:.2g}", flush=True)
    return out


def gather(names: list[str], cache: Path, out: Path, grid=GRID) -> None:
    tasks = [json.loads((cache / f"{n}.json").read_text()) for n in names]
    data = {
        "format": FORMAT,
        "grid_lrs": [_r(v) for v in grid],
        "grid_seeds": list(GRID_SEEDS),
        "find_seeds": list(FIND_SEEDS),
        "find_settings": FIND,
        "fit": "fit_one_cycle(epochs, lr_max=grid lr), default div/pct_start/moms; then Learner.validate()",
        "tasks": tasks,
    }
    out.write_text(json.dumps(data, separators=(",", ":")))
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB, {len(tasks)} tasks)")


def main(argv=None) -> None:
    from tasks import TASKS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    p.add_argument("--cache", type=Path, default=HERE / "cache")
    p.add_argument("--out", type=Path, default=HERE / "data.json")
    p.add_argument("--force", action="store_true", help="recompute cached tasks")
    args = p.parse_args(argv)
    names = [t.name for t in TASKS] if not args.tasks else args.tasks.split(",")
    todo = [n for n in names if args.force or not (args.cache / f"{n}.json").exists()]
    todo.sort(key=lambda n: n not in SLOW)  # the slowest first, so that the two workers end together
    print(f"{len(names)} tasks, {len(names) - len(todo)} cached, {len(todo)} to run on {args.workers} workers")
    if todo:
        with get_context("spawn").Pool(args.workers) as pool:
            pool.starmap(run_task, [(n, args.cache) for n in todo], chunksize=1)
    gather(names, args.cache, args.out)


if __name__ == "__main__":
    main()
