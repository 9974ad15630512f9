"""TableScheduler against torch's OneCycleLR: per-step cost and the cost of a whole schedule.

1. Time per step of a bare loop (``optimizer.step(); scheduler.step()`` on a small model whose
   gradients are set once) with ``TableScheduler.one_cycle`` against the same loop with
   ``torch.optim.lr_scheduler.OneCycleLR``, both scheduling lr and momentum, for 1 and 4
   parameter groups; and the same for ``scheduler.step()`` alone (the scheduler's own cost).
   Target: ratio TableScheduler / OneCycleLR <= 1.0.
2. Time to build a 10^6-step TableScheduler (the whole table, lr and mom) against stepping
   OneCycleLR 10^6 times (what torch needs to produce the same values).

Prints medians and ratios. Run: .venv/bin/python benchmarks/bench_lr_scheduler.py [--quick]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import torch
from torch.optim.lr_scheduler import OneCycleLR

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _timing import median_time  # noqa: E402

from torch_adapter.lr_scheduler import TableScheduler  # noqa: E402

REPEAT, WARMUP = 7, 1


def make_optimizer(n_groups: int) -> torch.optim.SGD:
    torch.manual_seed(0)
    groups = []
    for _ in range(n_groups):
        p = torch.nn.Parameter(torch.randn(16, 16))
        p.grad = torch.randn(16, 16) * 1e-3
        groups.append({"params": [p]})
    return torch.optim.SGD(groups, lr=0.1, momentum=0.9)


def build(kind: str, opt: torch.optim.Optimizer, total_steps: int):
    if kind == "table":
        return TableScheduler.one_cycle(opt, total_steps, 0.1, pct_start=0.3)
    return OneCycleLR(opt, max_lr=0.1, total_steps=total_steps, pct_start=0.3)


def per_step(kind: str, n_groups: int, steps: int, with_optimizer: bool) -> float:
    """Median seconds per loop iteration, over REPEAT rounds of ``steps`` iterations."""
    opt = make_optimizer(n_groups)
    sched = build(kind, opt, (REPEAT + WARMUP) * steps + 1)
    opt.step()  # so that torch sees the optimizer stepped first (no call-order warning)

    def with_opt():
        for _ in range(steps):
            opt.step()
            sched.step()

    def alone():
        for _ in range(steps):
            sched.step()

    return median_time(with_opt if with_optimizer else alone, repeat=REPEAT, warmup=WARMUP) / steps


def whole_schedule(total_steps: int, torch_rounds: int) -> tuple[float, float]:
    """(seconds to build a TableScheduler of total_steps, seconds to step OneCycleLR that often)."""
    opt = make_optimizer(1)
    t_build = median_time(lambda: build("table", opt, total_steps), repeat=5, warmup=1)
    times = []
    for _ in range(torch_rounds):
        sched = build("torch", make_optimizer(1), total_steps)
        t0 = time.perf_counter()
        for _ in range(total_steps - 1):  # OneCycleLR raises one step past total_steps
            sched.step()
        times.append(time.perf_counter() - t0)
    times.sort()
    return t_build, times[len(times) // 2]


def main(quick: bool = False) -> None:
    warnings.simplefilter("ignore")  # torch's call-order warning in the scheduler-only loop
    steps = 2_000 if quick else 20_000
    print(f"torch {torch.__version__}; median of {REPEAT} rounds of {steps} steps; one-cycle lr + momentum")
    print(f"{'loop':<34}{'groups':>7}{'Table µs':>11}{'OneCycle µs':>13}{'ratio':>8}")
    for with_optimizer in (True, False):
        label = "optimizer.step + scheduler.step" if with_optimizer else "scheduler.step alone"
        for n_groups in (1, 4):
            ours = per_step("table", n_groups, steps, with_optimizer)
            theirs = per_step("torch", n_groups, steps, with_optimizer)
            print(f"{label:<34}{n_groups:>7}{ours * 1e6:>11.2f}{theirs * 1e6:>13.2f}{ours / theirs:>8.3f}")

    total = 10**5 if quick else 10**6
    t_build, t_torch = whole_schedule(total, torch_rounds=1 if quick else 3)
    print(f"\nwhole schedule of {total:.0e} steps (lr + momentum):")
    print(f"  build TableScheduler (table computed once): {t_build * 1e3:9.1f} ms")
    print(f"  step OneCycleLR {total:.0e} times:             {t_torch * 1e3:9.1f} ms")
    print(f"  ratio build / stepping:                     {t_build / t_torch:9.4f}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
