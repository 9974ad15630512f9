"""Learner overhead: ``synth_learner(...).fit_one_cycle(...)`` against a hand-written torch loop.

Both sides do the same work on the same data: ``RegModel`` (``x*a + b``), MSE loss, SGD with
momentum 0.9, the 1cycle schedule on lr and momentum (``torch.optim.lr_scheduler.OneCycleLR``
with fastai's settings in the bare loop; a ``ParamScheduler`` over a schedcore table in the
Learner), and a validation pass under ``no_grad`` each epoch. The Learner runs with its
default callbacks (Recorder, progress) under ``no_logging``. Rounds alternate between the two
so that drift hits both; we report the median seconds per training step of each and the
median of the per-round ratios. Target: Learner / bare <= 1.15.

Run: .venv/bin/python benchmarks/bench_learner.py [--quick]
"""

from __future__ import annotations

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
            loss = loss_func(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
        model.eval()
        with torch.no_grad():
            for xb, yb in dls.valid:
                loss_func(model(xb), yb)


def learner_fit(model: nn.Module, dls, n_epoch: int) -> None:
    learn = synth_learner(data=dls, model=model, lr=LR)
    with learn.no_logging():
        learn.fit_one_cycle(n_epoch, div=DIV, div_final=DIV_FINAL, pct_start=PCT_START, moms=MOMS)


def per_step(fit, dls, n_epoch: int) -> float:
    model = RegModel()
    t0 = time.perf_counter()
    fit(model, dls, n_epoch)
    return (time.perf_counter() - t0) / (n_epoch * len(dls.train))


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
    print(f"ratio (median of rounds)      {ratio:9.3f}   target <= 1.15")
    return {"bare": b_med, "learner": l_med, "ratio": ratio}


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
