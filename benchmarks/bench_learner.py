"""Learner overhead: ``synth_learner(...).fit_one_cycle(...)`` against a hand-written torch loop.

Both sides do the same work on the same data: ``RegModel`` (``x*a + b``), MSE loss, SGD with
momentum 0.9, the 1cycle schedule on lr and momentum (``torch.optim.lr_scheduler.OneCycleLR``
with fastai's settings in the bare loop; a ``ParamScheduler`` over a schedcore table in the
Learner), and a validation pass under ``no_grad`` each epoch. The Learner runs with its
default callbacks (Recorder, progress) under ``no_logging``. Rounds alternate between the two
so that drift hits both; we report the median seconds per training step of each and the
median of the per-round ratios. Target: Learner / bare <= 1.05 (issue 12).

Second part: wall time of ``learn.lr_find(num_it=100)`` (``end_lr=0.1`` so that all 100 steps
run; no plot) against 100 steps of the same bare loop plus one ``state_dict`` copy and restore
of model and optimizer. Target: lr_find / bare <= 1.2.

Run: .venv/bin/python benchmarks/bench_learner.py [--quick]
"""

from __future__ import annotations

import copy
import functools
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.optim.lr_scheduler import OneCycleLR

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from torch_adapter.testing import RegModel, synth_dbunch, synth_learner  # noqa: E402

LR, DIV, DIV_FINAL, PCT_START, MOMS = 1e-2, 25.0, 1e5, 0.25, (0.95, 0.85, 0.95)


def bare_step(model: nn.Module, loss_func, opt, sched, xb, yb) -> None:
    """One hand-written training step: forward, backward, optimizer and scheduler step."""
    loss = loss_func(model(xb), yb)
    loss.backward()
    opt.step()
    sched.step()
    opt.zero_grad()


def bare_fit(model: nn.Module, dls, n_epoch: int) -> None:
    """The hand-written loop: what a plain-PyTorch user would write."""
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    sched = OneCycleLR(opt, max_lr=LR, total_steps=n_epoch * len(dls.train), pct_start=PCT_START,
                       div_factor=DIV, final_div_factor=DIV_FINAL / DIV, base_momentum=MOMS[1],
                       max_momentum=MOMS[0])  # fmt: skip
    loss_func = nn.MSELoss()
    for _ in range(n_epoch):
        model.train()
        for xb, yb in dls.train:
            bare_step(model, loss_func, opt, sched, xb, yb)
        model.eval()
        with torch.no_grad():
            for xb, yb in dls.valid:
                loss_func(model(xb), yb)


def learner_fit(model: nn.Module, dls, n_epoch: int) -> None:
    learn = synth_learner(data=dls, model=model, lr=LR)
    with learn.no_logging():
        learn.fit_one_cycle(n_epoch, div=DIV, div_final=DIV_FINAL, pct_start=PCT_START, moms=MOMS)


def bare_range_test(model: nn.Module, dls, num_it: int) -> None:
    """``num_it`` steps of the bare loop, with a state_dict copy before and a restore after."""
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    saved = copy.deepcopy({"model": model.state_dict(), "opt": opt.state_dict()})
    sched = OneCycleLR(opt, max_lr=LR, total_steps=num_it)
    loss_func, steps = nn.MSELoss(), 0
    model.train()
    while steps < num_it:
        for xb, yb in dls.train:
            bare_step(model, loss_func, opt, sched, xb, yb)
            steps += 1
            if steps == num_it:
                break
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["opt"])


def learner_range_test(model: nn.Module, dls, num_it: int) -> None:
    learn = synth_learner(data=dls, model=model, lr=LR)
    learn.lr_find(end_lr=0.1, num_it=num_it, show_plot=False)
    if len(learn.recorder.lrs) != num_it:
        raise RuntimeError(f"lr_find stopped after {len(learn.recorder.lrs)} of {num_it} steps")


def lr_find_ratio(dls, rounds: int, num_it: int = 100) -> tuple[float, float, float]:
    """Median wall times (bare, lr_find) and the median per-round ratio."""
    bare, finder = [], []
    for fit, times in [(bare_range_test, bare), (learner_range_test, finder)] * (rounds + 1):
        model = RegModel()
        t0 = time.perf_counter()
        fit(model, dls, num_it)
        times.append(time.perf_counter() - t0)
    bare, finder = bare[1:], finder[1:]  # first round: warm-up
    ratio = statistics.median(f / b for f, b in zip(finder, bare, strict=True))
    return statistics.median(bare), statistics.median(finder), ratio


def per_step(fit, dls, n_epoch: int) -> float:
    model = RegModel()
    t0 = time.perf_counter()
    fit(model, dls, n_epoch)
    return (time.perf_counter() - t0) / (n_epoch * len(dls.train))


def param_scheduler_memory(n_steps: int = 10**6, n_groups: int = 8) -> tuple[float, float]:
    """Peak bytes allocated by ``ParamScheduler.before_fit`` for 4 per-group hypers, and the table's bytes."""
    import tracemalloc
    from types import SimpleNamespace

    import numpy as np

    from schedcore import SchedCos, SchedLin, combined_cos, one_cycle
    from torch_adapter import ParamScheduler

    opt = torch.optim.AdamW([{"params": [torch.zeros(1, requires_grad=True)]} for _ in range(n_groups)])
    full = functools.partial(np.full, n_groups)
    scheds = {"lr": one_cycle(np.geomspace(1e-4, 1e-2, n_groups))["lr"],
              "mom": combined_cos(0.25, full(0.95), full(0.85), full(0.95)),
              "sqr_mom": SchedCos(full(0.99), full(0.999)), "wd": SchedLin(full(1e-2), full(0.0))}  # fmt: skip
    cb = ParamScheduler(scheds)
    cb.learn = SimpleNamespace(opt=opt, n_epoch=1, dls=SimpleNamespace(train=range(n_steps)), train_iter=0)
    tracemalloc.start()
    cb.before_fit()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    table = sum(col.nbytes for col in cb.table.values())
    return peak, table


def main(quick: bool = False) -> dict[str, float]:
    torch.manual_seed(0)
    rounds, n_epoch = (5, 2) if quick else (15, 4)
    dls = synth_dbunch(n_train=100, n_valid=10)
    for fit in (bare_fit, learner_fit):  # warm-up
        per_step(fit, dls, 1)
    bare, learner = [], []
    for _ in range(rounds):
        bare.append(per_step(bare_fit, dls, n_epoch))
        learner.append(per_step(learner_fit, dls, n_epoch))
    ratio = statistics.median(lr / b for lr, b in zip(learner, bare, strict=True))
    b_med, l_med = statistics.median(bare), statistics.median(learner)
    steps = n_epoch * len(dls.train)
    print(f"torch {torch.__version__}; {rounds} alternating rounds of {steps} training steps (bs 16)")
    print(f"bare loop + OneCycleLR        {b_med * 1e6:9.1f} µs/step")
    print(f"Learner.fit_one_cycle         {l_med * 1e6:9.1f} µs/step")
    print(f"ratio (median of rounds)      {ratio:9.3f}   target <= 1.05 (issue 12)")
    f_bare, f_find, f_ratio = lr_find_ratio(dls, rounds)
    print("\nLR range test, 100 steps:")
    print(f"bare loop + state_dict copy/restore {f_bare * 1e3:9.2f} ms")
    print(f"Learner.lr_find(num_it=100)         {f_find * 1e3:9.2f} ms")
    print(f"ratio (median of rounds)            {f_ratio:9.3f}   target <= 1.2")
    peak, table = param_scheduler_memory()
    print("\nParamScheduler.before_fit at 10^6 steps x 8 groups x 4 hypers (numpy tables):")
    print(f"peak allocated {peak / 2**20:8.1f} MiB, the table {table / 2**20:8.1f} MiB, "
          f"ratio {peak / table:.2f}   target <= 1.2")
    print("\nTableScheduler in a plain loop against OneCycleLR (benchmarks/bench_lr_scheduler.py):")
    import bench_lr_scheduler

    bench_lr_scheduler.main(quick=quick)
    return {"bare": b_med, "learner": l_med, "ratio": ratio, "lr_find_ratio": f_ratio}


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
