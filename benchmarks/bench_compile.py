"""Compiled optimizer step under a one-cycle schedule: our table writer vs torch's ``OneCycleLR``.

Both loops train the same MLP with AdamW for ``STEPS`` steps under the same 1cycle schedule
(lr and betas[0]), with the optimizer step compiled by ``torch.compile`` (default backend,
inductor):

- **ours**: ``CompiledStep`` + ``TableScheduler.one_cycle`` (lr and betas are 0-d tensors that
  the table writer fills in place), and ``Learner.fit_one_cycle`` with ``CompileStep``;
- **torch**: ``torch.compile`` on ``opt.step`` + ``OneCycleLR`` (writes floats every step),
  as torch's compiled-optimizer tutorial does, with ``lr`` a tensor (the tutorial's advice).

Prints the graphs dynamo compiled for each loop (``torch._dynamo.utils.counters``), whether it
fell back to eager (the recompile limit), and the median time per step after warm-up, with the
ratio. The machine is shared: times are noisy, graph counts are not.

Run: .venv/bin/python benchmarks/bench_compile.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from torch._dynamo.utils import counters
from torch.optim.lr_scheduler import OneCycleLR

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from torch_adapter import CompiledStep, CompileStep, TableScheduler  # noqa: E402
from torch_adapter.data import DataLoaders  # noqa: E402
from torch_adapter.learner import Learner  # noqa: E402

LR, DIV, DIV_FINAL, PCT, MOMS = 1e-3, 25.0, 1e4, 0.25, (0.95, 0.85, 0.95)


def mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1))


def data(n_batches: int):
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(64, 64, generator=g), torch.randn(64, 1, generator=g)) for _ in range(n_batches)]


def loop(model, opt, step, sched, batches) -> list[float]:
    """Train over ``batches``; return the seconds of each step."""
    times = []
    for xb, yb in batches:
        t0 = time.perf_counter()
        torch.nn.functional.mse_loss(model(xb), yb).backward()
        step()
        sched.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    return times


def ours(steps: int):
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    step = CompiledStep(opt)
    sched = TableScheduler.one_cycle(opt, steps, LR, div=DIV, div_final=DIV_FINAL, pct_start=PCT, moms=MOMS)
    return loop(model, opt, step, sched, data(steps))


def torch_one_cycle(steps: int):
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=torch.tensor(LR))
    sched = OneCycleLR(opt, max_lr=LR, total_steps=steps, pct_start=PCT, div_factor=DIV,
                       final_div_factor=DIV_FINAL / DIV, base_momentum=MOMS[1], max_momentum=MOMS[0])  # fmt: skip
    step = torch.compile(opt.step)
    return loop(model, opt, step, sched, data(steps))


def learner(steps: int):
    batches = data(steps)
    learn = Learner(DataLoaders(batches, []), mlp(), torch.nn.MSELoss(), opt_func=torch.optim.AdamW, lr=LR)
    t0 = time.perf_counter()
    with learn.no_logging():
        learn.fit_one_cycle(1, lr_max=LR, div=DIV, div_final=DIV_FINAL, pct_start=PCT, moms=MOMS,
                            cbs=CompileStep())  # fmt: skip
    return time.perf_counter() - t0


def measure(name: str, fn, steps: int, warm: int):
    torch._dynamo.reset()
    counters.clear()
    times = fn(steps)
    graphs = counters["stats"]["unique_graphs"]
    config = torch._dynamo.config
    limit = graphs >= getattr(config, "recompile_limit", getattr(config, "cache_size_limit", 8))
    med = statistics.median(times[warm:])
    print(f"{name:<38} graphs {graphs:>3}   at dynamo's recompile limit: {'yes' if limit else 'no ':<3}  "
          f"median step after warm-up {med * 1e3:7.3f} ms")
    return med, graphs


def main(quick: bool = False) -> None:
    steps = 60 if quick else 200
    warm = 20
    print(f"AdamW, MLP 64-256-1, batch 64, {steps} steps, compiled optimizer step (inductor), CPU")
    t_torch, g_torch = measure("torch: compile(opt.step) + OneCycleLR", torch_one_cycle, steps, warm)
    t_ours, g_ours = measure("ours: CompiledStep + TableScheduler", ours, steps, warm)
    print(f"ratio ours / torch (median step time): {t_ours / t_torch:.2f}x")
    torch._dynamo.reset()
    counters.clear()
    seconds = learner(steps)
    print(f"Learner.fit_one_cycle + CompileStep: graphs {counters['stats']['unique_graphs']} "
          f"(step; the model runs eagerly), {seconds:.2f} s for {steps} steps including compilation")
    print(f"target: ours compiles 1 graph for the whole fit (got {g_ours}); torch's got {g_torch}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
