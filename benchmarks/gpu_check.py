"""Issue 12's device checks: sync-free scheduling, CUDA-graph capture, a compiled step on CUDA.

Run on a machine with a CUDA GPU; each check prints one line, ``PASS``/``FAIL``/``SKIP``:

1. ``table-loop-sync-free``: a plain loop (capturable AdamW, lr and betas as device tensors,
   ``TableScheduler`` with its table moved to the GPU by ``sched.writer.to(device)``) runs 50
   steps under ``torch.cuda.set_sync_debug_mode("error")``: no host-device synchronisation,
   and the lr and beta1 applied at each step equal the table's rows.
2. ``learner-fit-sync-free``: ``Learner.fit_one_cycle`` (SGD, float hyper-parameters written
   from the host table) on a CUDA model with the loss readers off (no Recorder, NaN guard
   ``on_nonfinite="continue"``: they read the loss by design) under the same sync-debug mode.
3. ``cuda-graph-replay``: forward, backward, ``opt.step()`` and the table write of row ``k``
   (``k`` a device counter, ``TableWriter.write(k)`` with a 0-d int tensor) captured in one
   ``torch.cuda.CUDAGraph``; 40 replays give the same parameters as 40 eager steps and the
   lr of each replay equals the table row.
4. ``compiled-step-cuda``: ``CompiledStep`` (inductor) of AdamW on CUDA under a one-cycle
   ``TableScheduler``: one graph for 60 steps, no recompile, parameters equal to the eager run.
5. ``graph-replay-speed``: median microseconds per step, eager loop vs graph replay (printed,
   no target).

Without CUDA every check prints ``SKIP`` (exit 0). ``--device cpu`` runs the parts that do not
need CUDA (1 without the sync-debug mode, 4 with the eager backend) as a dry run of this script:
``tests/torch_adapter/test_gpu_check.py`` does that, so the script cannot rot unnoticed.

Run: python benchmarks/gpu_check.py [--device cuda|cpu]
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import schedcore  # noqa: E402
from torch_adapter import ParamScheduler, Recorder, TableScheduler  # noqa: E402
from torch_adapter.compile import CompiledStep  # noqa: E402
from torch_adapter.optim import TableWriter, tensor_hypers  # noqa: E402
from torch_adapter.testing import synth_learner  # noqa: E402

RESULTS: list[tuple[str, str, str]] = []


def report(status: str, name: str, detail: str) -> None:
    RESULTS.append((status, name, detail))
    print(f"{status} {name}: {detail}", flush=True)


@contextlib.contextmanager
def sync_debug(device: torch.device):
    """``set_sync_debug_mode("error")`` on CUDA (any synchronising call raises), nothing on CPU."""
    if device.type != "cuda":
        yield
        return
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def mlp(device: torch.device, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)).to(device)


def batches(device: torch.device, n: int, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(16, 32, generator=g).to(device), torch.randn(16, 1, generator=g).to(device))
        for _ in range(n)
    ]


def table_loop_sync_free(device: torch.device, steps: int = 50) -> None:
    name = "table-loop-sync-free"
    model, data = mlp(device), batches(device, steps)
    cuda = device.type == "cuda"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, capturable=cuda)
    tensor_hypers(opt, ("lr", "mom"), device=device)
    sched = TableScheduler(opt, schedcore.one_cycle(1e-2), total_steps=steps)
    sched.writer.to(device)  # the table on the device: each row is written by device-side copies
    lr, beta1 = opt.param_groups[0]["lr"], opt.param_groups[0]["betas"][0]
    seen_lr, seen_mom = [], []
    with sync_debug(device):
        for xb, yb in data:
            seen_lr.append(lr.detach().clone())  # the values this step uses (device copies, no sync)
            seen_mom.append(beta1.detach().clone())
            torch.nn.functional.mse_loss(model(xb), yb).backward()
            opt.step()
            sched.step()
            opt.zero_grad()
    table = sched.table
    got_lr = torch.stack(seen_lr).cpu().numpy()
    got_mom = torch.stack(seen_mom).cpu().numpy()
    ok = np.allclose(got_lr, table["lr"], rtol=1e-6) and np.allclose(got_mom, table["mom"], rtol=1e-6)
    where = "under sync-debug 'error'" if cuda else "(CPU dry run, no sync-debug)"
    report("PASS" if ok else "FAIL", name, f"{steps} steps {where}; applied lr/beta1 == table rows: {ok}")


def learner_fit_sync_free(device: torch.device) -> None:
    name = "learner-fit-sync-free"
    if device.type != "cuda":
        report("SKIP", name, "needs CUDA")
        return
    learn = synth_learner(on_nonfinite="continue")  # the NaN guard reads the loss: a sync by design
    learn.model.to(device)
    learn.remove_cb(Recorder)  # the Recorder reads the loss too
    with learn.no_logging():
        learn.fit(1)  # CUDA warm-up, optimizer state
        with sync_debug(device):
            learn.fit_one_cycle(2, cbs=ParamScheduler({"wd": schedcore.SchedLin(0.0, 1e-3)}))
    report("PASS", name, f"fit_one_cycle(2) on {device}: no synchronisation raised; "
           f"last lr {learn.opt.param_groups[0]['lr']:.3g}")  # fmt: skip


def _capturable_adam(model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=True)
    return tensor_hypers(opt, ("lr",), device=device)


def cuda_graph_replay(device: torch.device) -> None:
    name, warm, steps = "cuda-graph-replay", 3, 40
    if device.type != "cuda":
        report("SKIP", name, "needs CUDA")
        return
    total = warm + steps
    table = schedcore.schedule_table({"lr": schedcore.one_cycle(1e-2)["lr"]}, total, dtype=np.float32)
    data = batches(device, total)
    loss_fn = torch.nn.functional.mse_loss

    # eager reference: row k written with a host index
    ref = mlp(device)
    ref_opt = _capturable_adam(ref, device)
    ref_writer = TableWriter(ref_opt, table).to(device)
    for k, (xb, yb) in enumerate(data):
        ref_writer.write(k)
        loss_fn(ref(xb), yb).backward()
        ref_opt.step()
        ref_opt.zero_grad(set_to_none=True)

    model = mlp(device)
    opt = _capturable_adam(model, device)
    writer = TableWriter(opt, table).to(device)
    k = torch.zeros((), dtype=torch.int64, device=device)
    static_x, static_y = data[0][0].clone(), data[0][1].clone()

    def step() -> None:
        writer.write(k)
        loss_fn(model(static_x), static_y).backward()
        opt.step()
        k.add_(1)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up on a side stream, as CUDA graphs require
        for xb, yb in data[:warm]:
            static_x.copy_(xb)
            static_y.copy_(yb)
            opt.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    opt.zero_grad(set_to_none=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    lr_seen = []
    for xb, yb in data[warm:]:
        static_x.copy_(xb)
        static_y.copy_(yb)
        graph.replay()
        lr_seen.append(opt.param_groups[0]["lr"].detach().clone())
    torch.cuda.synchronize()
    same_params = all(
        torch.allclose(a, b, rtol=1e-5, atol=1e-7)
        for a, b in zip(model.parameters(), ref.parameters(), strict=True)
    )
    lrs = torch.stack(lr_seen).cpu().numpy()
    same_lr = np.allclose(lrs, table["lr"][warm:], rtol=1e-6)
    ok = same_params and same_lr and int(k) == total
    report("PASS" if ok else "FAIL", name, f"{steps} replays: params == eager: {same_params}; "
           f"lr per replay == table rows: {same_lr}; counter {int(k)} == {total}")  # fmt: skip
    speed(graph, k, data, static_x, static_y, ref, ref_opt, ref_writer)


def speed(graph, k, data, static_x, static_y, ref, ref_opt, ref_writer) -> None:
    """Median µs per step: the eager loop with its table write against one graph replay."""

    def eager_step(i: int) -> None:
        xb, yb = data[i % len(data)]
        ref_writer.write(i % ref_writer.rows)
        torch.nn.functional.mse_loss(ref(xb), yb).backward()
        ref_opt.step()
        ref_opt.zero_grad(set_to_none=True)

    def replay(i: int) -> None:
        xb, yb = data[i % len(data)]
        static_x.copy_(xb)
        static_y.copy_(yb)
        k.fill_(i % ref_writer.rows)  # the graph reads row k: keep it inside the table (a device write)
        graph.replay()

    out = {}
    for label, fn in (("eager", eager_step), ("graph", replay)):
        runs = []
        for _ in range(5):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(200):
                fn(i)
            torch.cuda.synchronize()
            runs.append((time.perf_counter() - t0) / 200)
        out[label] = statistics.median(runs)
    report("INFO", "graph-replay-speed", f"eager {out['eager'] * 1e6:.1f} µs/step, graph replay "
           f"{out['graph'] * 1e6:.1f} µs/step, ratio {out['graph'] / out['eager']:.2f}")  # fmt: skip


def compiled_step(device: torch.device) -> None:
    from torch._dynamo.utils import counters

    name, steps = "compiled-step-" + device.type, 60
    backend = "inductor" if device.type == "cuda" else "eager"

    def run(compiled: bool) -> tuple[torch.nn.Module, int]:
        torch._dynamo.reset()
        counters.clear()
        model, data = mlp(device), batches(device, steps)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        step = CompiledStep(opt, backend=backend) if compiled else opt.step
        sched = TableScheduler(opt, schedcore.one_cycle(1e-2), total_steps=steps)
        for xb, yb in data:
            torch.nn.functional.mse_loss(model(xb), yb).backward()
            step()
            sched.step()
            opt.zero_grad()
        return model, counters["stats"]["unique_graphs"]

    eager, _ = run(False)
    compiled, graphs = run(True)
    same = all(
        torch.allclose(a, b, rtol=1e-4, atol=1e-6)
        for a, b in zip(compiled.parameters(), eager.parameters(), strict=True)
    )
    ok = graphs == 1 and same
    report("PASS" if ok else "FAIL", name, f"{steps} steps, backend {backend}: {graphs} graph(s) (want 1); "
           f"params == eager: {same}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    RESULTS.clear()
    want = (
        argv[argv.index("--device") + 1]
        if "--device" in argv
        else ("cuda" if torch.cuda.is_available() else None)
    )
    checks = [table_loop_sync_free, learner_fit_sync_free, cuda_graph_replay, compiled_step]
    if want is None:
        for check in checks:
            report(
                "SKIP",
                check.__name__.replace("_", "-"),
                "no CUDA device (torch.cuda.is_available() is False)",
            )
        return 0
    device = torch.device(want)
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))  # fmt: skip
    for check in checks:
        try:
            check(device)
        except Exception as e:  # one line per check, whatever happens
            report("FAIL", check.__name__.replace("_", "-"), f"{type(e).__name__}: {e}")
    return 1 if any(status == "FAIL" for status, _, _ in RESULTS) else 0


if __name__ == "__main__":
    sys.exit(main())
