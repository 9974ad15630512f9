"""Compiled optimizer steps on the CPU: one graph per whole fit, applied values equal eager.

Compiled with ``backend="eager"`` (dynamo captures the graph, no code generation): the number
of graphs is dynamo's (guards and recompiles do not depend on the backend), and the suite stays
fast. ``benchmarks/bench_compile.py`` uses the default (inductor) backend.
"""

import functools

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

import schedcore
from torch_adapter import Callback, CompiledStep, CompileStep, TableScheduler, compile_ready
from torch_adapter.testing import synth_learner

OPTIMIZERS = {
    "sgd": functools.partial(torch.optim.SGD, momentum=0.9),
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": functools.partial(torch.optim.RMSprop, momentum=0.9),
}

POLICIES = {  # every policy: one fit each, on the same Learner and compiled step
    "one_cycle": lambda learn: learn.fit_one_cycle(1, lr_max=1e-2),
    "flat_cos": lambda learn: learn.fit_flat_cos(1, lr=1e-2),
    "sgdr": lambda learn: learn.fit_sgdr(2, 1, lr_max=1e-2, cycle_mult=1),
    "warmup_cosine": lambda learn: learn.fit_warmup_cosine(1, lr_max=1e-2, warmup_pct=0.2),
    "wsd": lambda learn: learn.fit_wsd(1, lr_max=1e-2, warmup_pct=0.2, decay_pct=0.3),
    "lr_range": lambda learn: learn.lr_find(num_it=8, show_plot=False),
}


def graphs() -> int:
    return counters["stats"]["unique_graphs"]


class AppliedHypers(Callback):
    """What the optimizer holds at each step: lr and mom (momentum or betas[0]) of every group."""

    order = 70  # after the schedulers (60)

    def __init__(self):
        self.rows = []

    def before_step(self):
        g = self.learn.opt.param_groups[0]
        mom = g["betas"][0] if "betas" in g else g.get("momentum", 0.0)
        self.rows.append((float(g["lr"]), float(mom)))


def run_all_policies(opt_name: str, compiled: bool):
    torch.manual_seed(0)
    learn = synth_learner(opt_func=OPTIMIZERS[opt_name])
    learn.create_opt()
    compile_ready(learn.opt)  # the eager run holds the same tensor hyper-parameters
    applied = AppliedHypers()
    learn.add_cb(applied)
    if compiled:
        learn.add_cb(CompileStep(backend="eager"))
    per_fit = []
    for name, fit in POLICIES.items():
        before = graphs()
        with learn.no_logging():
            fit(learn)
        per_fit.append((name, graphs() - before))
    return applied.rows, [p.detach().clone() for p in learn.model.parameters()], per_fit


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_one_graph_per_fit_for_every_policy_and_values_equal_eager(opt_name):
    """Every policy's fit compiles at most one optimizer-step graph (the first fit exactly one;
    later fits reuse it or, after the LR finder restores the optimizer, compile one): no
    recompiles inside a fit (with float hyper-parameters the first fit alone makes 8 graphs, the
    limit); the hyper-parameters applied and the trained weights equal eager's."""
    torch._dynamo.reset()
    counters.clear()
    eager_rows, eager_params, _ = run_all_policies(opt_name, compiled=False)
    assert graphs() == 0
    rows, params, per_fit = run_all_policies(opt_name, compiled=True)
    assert per_fit[0][1] == 1, per_fit
    assert all(n <= 1 for _, n in per_fit), per_fit
    assert sum(n for _, n in per_fit) <= 2, per_fit
    assert rows == eager_rows  # the same table values, written into the same tensors
    for p, q in zip(params, eager_params, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_table_scheduler_plain_loop_one_graph():
    """A hand-written loop: CompiledStep where opt.step() was, TableScheduler as usual."""
    torch._dynamo.reset()
    counters.clear()

    def train(compiled: bool):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        opt = compile_ready(torch.optim.AdamW(model.parameters(), lr=1e-3))
        sched = TableScheduler.one_cycle(opt, 12, 1e-2)
        step = CompiledStep(opt, backend="eager") if compiled else opt.step
        x, y = torch.randn(8, 3), torch.randn(8, 1)
        lrs = []
        for _ in range(12):
            torch.nn.functional.mse_loss(model(x), y).backward()
            lrs.append(float(opt.param_groups[0]["lr"]))
            step()
            sched.step()
            opt.zero_grad()
        return lrs, model.weight.detach().clone()

    lrs, w = train(True)
    assert graphs() == 1
    eager_lrs, eager_w = train(False)
    assert lrs == eager_lrs
    expected = schedcore.schedule_table(schedcore.one_cycle(1e-2, n_groups=1), 12)["lr"].astype(np.float32)
    assert lrs == expected.tolist()  # the table's values, rounded to the float32 tensor
    torch.testing.assert_close(w, eager_w, rtol=1e-5, atol=1e-6)


def test_compiled_model_and_step_in_the_learner():
    """``CompileStep(model=True)``: model and optimizer step compiled; no graph is added after the
    first epoch (no recompiles), and the losses equal the eager run's."""
    torch._dynamo.reset()
    counters.clear()

    def fit(compiled: bool):
        torch.manual_seed(0)
        learn = synth_learner(opt_func=torch.optim.AdamW)
        cbs = [CompileStep(model=True, backend="eager")] if compiled else []
        learn.create_opt()
        compile_ready(learn.opt)
        with learn.no_logging():
            learn.fit_one_cycle(2, lr_max=1e-2, cbs=cbs)
        return learn.recorder.losses, learn.recorder.iters

    losses, iters = fit(True)
    compiled_graphs = graphs()
    assert compiled_graphs >= 2  # the model's forward and the optimizer step
    eager_losses, _ = fit(False)
    assert graphs() == compiled_graphs
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-5)


def test_compiled_step_rejects_non_optimizers():
    with pytest.raises(TypeError, match="opt must be a torch.optim.Optimizer; got list"):
        CompiledStep([])
