"""TableScheduler in a hand-written PyTorch loop, with a checkpoint and a resume midway.

Trains a small regression model for 3 epochs with a one-cycle schedule (lr and momentum),
once straight through and once stopped after 1.5 epochs, saved to a checkpoint file, rebuilt
from scratch and resumed. The resumed run uses exactly the same learning rates and momenta and
ends with exactly the same weights.

Run: .venv/bin/python examples/plain_loop.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from torch_adapter.lr_scheduler import TableScheduler

EPOCHS, BATCHES, BATCH_SIZE = 3, 50, 32
TOTAL_STEPS = EPOCHS * BATCHES


def make_data(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCHES * BATCH_SIZE, 8, generator=g)
    y = x @ torch.randn(8, 1, generator=g) + 0.1 * torch.randn(len(x), 1, generator=g)
    return list(zip(x.split(BATCH_SIZE), y.split(BATCH_SIZE), strict=True))


def build():
    """Model, optimizer and scheduler, built the same way on every (re)start."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = TableScheduler.one_cycle(opt, TOTAL_STEPS, lr_max=0.05)  # lr and momentum
    return model, opt, sched


def train(model, opt, sched, data, start: int, stop: int, log: list) -> None:
    """Steps ``start .. stop-1`` of training (step = epoch * BATCHES + batch)."""
    for step in range(start, stop):
        xb, yb = data[step % BATCHES]
        loss = torch.nn.functional.mse_loss(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        log.append((opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"], loss.item()))
        opt.step()
        sched.step()  # after opt.step(), once per batch


def main() -> None:
    data = make_data()

    # 1. uninterrupted run
    model, opt, sched = build()
    straight: list = []
    train(model, opt, sched, data, 0, TOTAL_STEPS, straight)
    straight_weights = [p.detach().clone() for p in model.parameters()]

    # 2. the same run, stopped halfway, checkpointed, rebuilt from scratch and resumed
    half = TOTAL_STEPS // 2
    model, opt, sched = build()
    resumed: list = []
    train(model, opt, sched, data, 0, half, resumed)
    with tempfile.TemporaryDirectory() as d:
        ckpt = Path(d) / "checkpoint.pt"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, ckpt)
        del model, opt, sched  # as if the process had died
        state = torch.load(ckpt, weights_only=True)
    model, opt, sched = build()
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])  # also checks the schedule is the one that was saved
    train(model, opt, sched, data, half, TOTAL_STEPS, resumed)

    assert resumed == straight, "the resumed run must use the same lrs and momenta, and see the same losses"
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), straight_weights, strict=True))
    lrs = [r[0] for r in straight]
    print(f"{TOTAL_STEPS} steps, checkpointed and resumed at step {half}")
    print(
        f"lr: first {lrs[0]:.2e}, peak {max(lrs):.2e}, last {lrs[-1]:.2e}; final loss {straight[-1][2]:.4f}"
    )
    print("resumed run == uninterrupted run: same lrs, momenta, losses and final weights")


if __name__ == "__main__":
    main()
