"""DDP overhead: ``fit_one_cycle`` inside ``learn.distrib_ctx()`` against a hand-written DDP loop.

Runs itself on 1 and then 2 gloo processes on this machine's CPU (torchrun's environment
variables on a free localhost port, ``OMP_NUM_THREADS=1``). In every process the same process
group serves both sides, which do the same work on the same data: an MLP classifier (or
``--model tiny``: fastai's ``RegModel``, where per-step overhead dominates), AdamW, the 1cycle
schedule on lr and momentum (``OneCycleLR`` with fastai's settings in the hand loop),
``DistributedSampler`` with ``set_epoch``, DDP, and a validation pass per epoch whose totals are
all-reduced. Two hand loops: ``hand`` (the minimal correct loop) and ``hand+log``, which also
provides what the Learner does on top, in the usual way: the mean loss over ranks every step
(the Recorder logs it) and a non-finite check that stops every rank at the same batch, by a
blocking ``all_reduce`` and a read per step. (The Learner carries both in DDP's own gradient
all-reduce instead: see ``torch_adapter.distributed.DistributedTrainer``.)

Rounds alternate between the sides so that drift hits all of them; rank 0 reports the median
seconds per training step of each side and the median per-round ratios. Target:
Learner / hand <= 1.15.

Every worker ends cleanly: no DDP model outlives the measurement, and no rank destroys the
process group before every rank is done with it (a barrier first: rank 0 hosts the group's
store). A DDP model alive when its group is destroyed (the hand loop's, kept by the loop variable
of the timing loop) is what made rank 1 abort at exit once ("terminate called without an active
exception"). ``--items N`` makes a small run (N training items) for checking exactly that.

Run: .venv/bin/python benchmarks/bench_distributed.py [--model mlp|tiny] [--rounds 7] [--items 8192]
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LR, DIV, DIV_FINAL, PCT_START, MOMS = 1e-3, 25.0, 1e5, 0.25, (0.95, 0.85, 0.95)
N_EPOCH, BS, N_TRAIN = 2, 64, 8192  # validation: N_TRAIN // 4 items (at least 256)


# ----------------------------------------------------------------------------- worker side
def make_data(kind: str):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from torch_adapter import DataLoaders

    g = torch.Generator().manual_seed(0)
    n_in = 1 if kind == "tiny" else 32

    def ds(n):
        x = torch.randn(n, n_in, generator=g)
        y = 2 * x + 3 if kind == "tiny" else (x[:, :10].argmax(1))
        return TensorDataset(x, y)

    n_train = int(os.environ.get("BENCH_DDP_ITEMS", N_TRAIN))
    return DataLoaders(
        DataLoader(ds(n_train), batch_size=BS, shuffle=True),
        DataLoader(ds(max(n_train // 4, 256)), batch_size=256),
    )


def make_model(kind: str):
    import torch
    from torch import nn

    from torch_adapter.testing import RegModel

    torch.manual_seed(0)
    if kind == "tiny":
        return RegModel(), nn.MSELoss()
    return nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)), (
        nn.CrossEntropyLoss()
    )


def hand_fit(ddp, loss_func, train, valid, log: bool) -> None:
    """The hand-written DDP loop (``ddp``: the model already in DDP; loaders already sharded)."""
    import torch
    import torch.distributed as dist
    from torch.optim.lr_scheduler import OneCycleLR

    from torch_adapter.optim import adamw

    opt = adamw(ddp.parameters(), lr=LR)
    sched = OneCycleLR(opt, max_lr=LR, total_steps=N_EPOCH * len(train), pct_start=PCT_START, div_factor=DIV,
                       final_div_factor=DIV_FINAL / DIV, base_momentum=MOMS[1], max_momentum=MOMS[0])  # fmt: skip
    world = dist.get_world_size()
    for epoch in range(N_EPOCH):
        train.sampler.set_epoch(epoch)
        ddp.train()
        for xb, yb in train:
            loss = loss_func(ddp(xb), yb)
            if log:
                mean = loss.detach().clone()
                dist.all_reduce(mean)
                if not torch.isfinite(mean / world).item():
                    raise RuntimeError("non-finite loss")
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
        ddp.eval()
        totals = torch.zeros(2, dtype=torch.float64)
        with torch.no_grad():
            for xb, yb in valid:
                totals += torch.tensor(
                    [loss_func(ddp.module(xb), yb).item() * len(xb), len(xb)], dtype=torch.float64
                )
        dist.all_reduce(totals)


def worker(kind: str, rounds: int, out: Path) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("gloo")  # distrib_ctx finds and uses it
    times, steps = measure(kind, rounds)  # every DDP model is created and freed in there
    gc.collect()
    alive = [o for o in gc.get_objects() if isinstance(o, DDP)]
    if alive:
        raise RuntimeError(
            f"{len(alive)} DDP model(s) outlive the measurement: freed after the group, they can abort at exit"
        )
    if dist.get_rank() == 0:
        out.write_text(json.dumps({"times": times, "steps": steps}))
    dist.barrier()  # every rank is done with the group before any destroys it (rank 0 hosts its store)
    dist.destroy_process_group()


def measure(kind: str, rounds: int) -> tuple[dict, int]:
    """Seconds per training step of each side, per round (round 0 warms up and is dropped)."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.utils.data import DataLoader, DistributedSampler

    import torch_adapter.distributed  # noqa: F401 - adds Learner.distrib_ctx
    from torch_adapter import Learner

    rank, world = dist.get_rank(), dist.get_world_size()
    dls = make_data(kind)
    model, loss_func = make_model(kind)
    learn = Learner(dls, model, loss_func, lr=LR)
    hand_model, _ = make_model(kind)
    ddp = DDP(hand_model)
    tds, vds = dls.train.dataset, dls.valid.dataset
    train = DataLoader(tds, batch_size=BS, sampler=DistributedSampler(tds, world, rank, shuffle=True, seed=0))
    valid = DataLoader(vds, batch_size=256, sampler=DistributedSampler(vds, world, rank, shuffle=False))
    steps = N_EPOCH * len(train)
    sides = {
        "learner": lambda: learn.fit_one_cycle(
            N_EPOCH, LR, div=DIV, div_final=DIV_FINAL, pct_start=PCT_START, moms=MOMS
        ),
        "hand": functools.partial(hand_fit, ddp, loss_func, train, valid, log=False),
        "hand+log": functools.partial(hand_fit, ddp, loss_func, train, valid, log=True),
    }
    times = {k: [] for k in sides}
    with learn.distrib_ctx(), learn.no_logging():
        for r in range(rounds + 1):  # round 0 warms up
            for name, fit in sides.items():
                dist.barrier()
                t0 = time.perf_counter()
                fit()
                if r:
                    times[name].append((time.perf_counter() - t0) / steps)
    return times, steps


# ----------------------------------------------------------------------------- driver side
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(world: int, kind: str, rounds: int, items: int = N_TRAIN, limit: float = 600) -> dict:
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_distributed_{os.getpid()}_{world}.json"
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": str(world),
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "BENCH_DDP_ITEMS": str(items)}  # fmt: skip
    cmd = [sys.executable, __file__, "--worker", "--model", kind, "--rounds", str(rounds), "--out", str(out)]
    procs = [subprocess.Popen(cmd, env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}) for r in range(world)]
    try:
        codes = [p.wait(timeout=limit) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    if any(codes):
        raise RuntimeError(f"benchmark worker failed: exit codes {codes}")
    result = json.loads(out.read_text())
    out.unlink()
    return result


def report(world: int, result: dict) -> None:
    t = result["times"]
    med = {k: statistics.median(v) for k, v in t.items()}
    print(
        f"{world} process(es), {result['steps']} training steps per fit and process, {len(t['learner'])} rounds:"
    )
    for k, v in med.items():
        print(f"  {k:<9} {v * 1e3:8.3f} ms/step  {1 / v:8.1f} steps/s")
    for base in ("hand", "hand+log"):
        ratios = [a / b for a, b in zip(t["learner"], t[base], strict=True)]
        print(f"  learner / {base:<9} median ratio {statistics.median(ratios):.3f}"
              f"  (min {min(ratios):.3f}, max {max(ratios):.3f})")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description="fit_one_cycle under distrib_ctx vs a hand-written DDP loop")
    p.add_argument("--model", choices=("mlp", "tiny"), default="mlp")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--items", type=int, default=N_TRAIN, help="training items (fewer: a quick run)")
    p.add_argument("--worlds", default="1,2", help="process counts to run, comma-separated")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.model, args.rounds, args.out)
        return
    print(f"model={args.model}, {N_EPOCH} epochs of {args.items} items, batch {BS} per process, gloo on CPU")
    for world in (int(w) for w in args.worlds.split(",")):
        report(world, run(world, args.model, args.rounds, args.items))
    print("target: learner / hand <= 1.15")


if __name__ == "__main__":
    main()
