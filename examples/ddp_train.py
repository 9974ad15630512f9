"""Data-parallel training on several processes with PyTorch DDP, through ``learn.distrib_ctx()``.

    torchrun --standalone --nproc_per_node=2 examples/ddp_train.py     # 2 processes (CPU: gloo)
    torchrun --standalone --nproc_per_node=gpu examples/ddp_train.py   # one process per GPU (NCCL)
    python examples/ddp_train.py                                       # one process, no DDP

Apart from the ``with learn.distrib_ctx():`` line this is an ordinary single-process script:
the context shards the data, wraps the model in DDP for each fit, averages the logged training
loss over the processes, computes validation metrics over the whole validation set, and lets
only rank 0 print and write files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torch_adapter import DataLoaders, Learner, accuracy
from torch_adapter.distributed import num_distrib  # importing it also adds Learner.distrib_ctx


def blobs(n: int, generator: torch.Generator) -> TensorDataset:
    """Three Gaussian blobs in the plane: a small classification task."""
    centres = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = torch.randint(0, 3, (n,), generator=generator)
    return TensorDataset(centres[y] + 0.8 * torch.randn(n, 2, generator=generator), y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--bs", type=int, default=64, help="batch size per process")
    parser.add_argument("--out", type=Path, default=Path("ddp_out"))
    args = parser.parse_args()

    gen = torch.Generator().manual_seed(0)  # the same data on every process (each trains on its shard)
    dls = DataLoaders(DataLoader(blobs(4096, gen), batch_size=args.bs, shuffle=True),
                      DataLoader(blobs(1000, gen), batch_size=256))  # fmt: skip
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 3))
    learn = Learner(dls, model, nn.CrossEntropyLoss(), metrics=[accuracy], path=args.out)

    with learn.distrib_ctx():
        learn.logger(f"{num_distrib()} process(es), {len(learn.dls.train)} training batches of {args.bs} each")
        lr = learn.lr_find(show_plot=False).valley
        learn.logger(f"lr_find: valley {lr:.2e}")
        learn.fit_one_cycle(args.epochs, lr_max=lr)
        file = learn.save("ddp_model", with_opt=False)
        learn.logger(f"final accuracy {learn.recorder.values[-1][2]:.4f}; weights -> {file}")


if __name__ == "__main__":
    main()
