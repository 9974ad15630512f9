"""One rank of a distributed test: ``python ddp_worker.py SCENARIO OUT_DIR`` under torchrun's env vars.

``test_distributed.py`` starts one process per rank (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
LOCAL_RANK set as torchrun sets them); each writes what the test checks to
``OUT_DIR/SCENARIO-rank<r>.json``. Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from torch_adapter import Callback, DataLoaders, Learner
from torch_adapter.distributed import DistributedTrainer
from torch_adapter.testing import RegModel, synth_learner

RANK = int(os.environ.get("RANK", "0"))
TIMEOUT = float(os.environ.get("DDP_TEST_TIMEOUT", "30"))


def params(model: nn.Module) -> dict[str, list[float]]:
    return {k: v.detach().flatten().tolist() for k, v in model.state_dict().items()}


class RecordInputs(Callback):
    """The training inputs each epoch saw on this rank (to check sharding and reshuffling)."""

    def before_fit(self):
        self.xs = []

    def before_epoch(self):
        self.xs.append([])

    def before_batch(self):
        if self.learn.training:
            self.xs[-1] += self.learn.xb[0].flatten().tolist()


def scenario_fit(out: Path) -> dict:
    torch.manual_seed(0)  # the same data on every rank ...
    learn = synth_learner(n_trn=6, n_val=2, lr=1e-2, path=out / "fit")
    torch.manual_seed(100 + RANK)  # ... but different initial weights: DDP must make them equal
    nn.init.normal_(learn.model.a), nn.init.normal_(learn.model.b)
    saves = []
    real_save = torch.save
    torch.save = lambda *a, **k: (saves.append(RANK), real_save(*a, **k))[1]
    orig = {"dls": learn.dls, "logger": learn.logger, "model": learn.model, "cbs": list(learn.cbs)}
    rec_inputs = RecordInputs()
    with learn.distrib_ctx(timeout=TIMEOUT):
        learn.fit_one_cycle(3, lr_max=0.03, cbs=rec_inputs)
        saved = str(learn.save("model"))
        fig = learn.recorder.plot_loss()
        inside = {"n_train": len(learn.dls.train), "n_train_items": len(learn.dls.train.sampler),
                  "is_main": learn.is_main, "swapped": _swapped_methods(learn)}  # fmt: skip
    undone = dict(_undone(learn, orig), group_kept_for_reuse=dist.is_initialized())
    rec = learn.recorder
    recorded = dict(params=params(learn.model), hps=rec.hps, losses=rec.losses, values=rec.values)
    try:
        with learn.distrib_ctx(timeout=TIMEOUT):
            learn.fit(1)
            raise KeyError("raised inside the block")
    except KeyError:
        undone_after_error = _undone(learn, orig)
    return dict(**recorded, xs=rec_inputs.xs, saves=saves, saved=saved, fig=fig is not None, inside=inside,
                undone=undone, undone_after_error=undone_after_error)  # fmt: skip


def _swapped_methods(learn: Learner) -> list[str]:
    """Instance attributes of the Learner and its Recorder that shadow a method of their class."""
    return [
        f"{type(obj).__name__}.{name}"
        for obj in (learn, learn.recorder)
        for name in vars(obj)
        if callable(getattr(type(obj), name, None))
    ]


def _undone(learn: Learner, orig: dict) -> dict:
    return {
        "dls": learn.dls is orig["dls"],
        "logger": learn.logger is orig["logger"],
        "model": learn.model is orig["model"],
        "cbs": learn.cbs == orig["cbs"] and not any(isinstance(c, DistributedTrainer) for c in learn.cbs),
        "methods": not _swapped_methods(learn),
        "hooks": learn.is_main is True and learn.share_main is None and learn.barrier is None,
    }


def mean_target(pred, targ):
    """A metric that counts duplicates: the mean of the targets seen."""
    return targ.float().mean()


def mae(pred, targ):
    return (pred - targ).abs().mean()


def scenario_valid(out: Path) -> dict:
    torch.manual_seed(0)
    x = torch.randn(13, 1)
    y = 3 * x + 1 + torch.arange(13.0)[:, None]
    valid = DataLoader(TensorDataset(x, y), batch_size=3)  # 13 items: uneven over 2 ranks
    learn = synth_learner(n_trn=4, path=out / "valid", metrics=[mae, mean_target])
    learn.dls.valid = valid
    single_before = learn.validate()
    dist.init_process_group("gloo")  # the script's own group: distrib_ctx uses it and leaves it alone
    with learn.distrib_ctx(timeout=TIMEOUT):
        n_valid_batches = len(learn.dls.valid)
        dist_before = learn.validate()
        with learn.no_logging():
            learn.fit(2, lr=1e-2)
        in_fit = learn.recorder.values[-1][1:]
        file = learn.save("weights", with_opt=False)
        saved = params(learn.model)
        with torch.no_grad():
            learn.model.a.add_(1.0)
        learn.load("weights", with_opt=False)
        loaded = params(learn.model)
    users_group_kept = dist.is_initialized()
    dist.barrier()  # no rank tears the group down while another still uses it
    dist.destroy_process_group()
    single_after = learn.validate()
    plain = RegModel()
    state = torch.load(file, weights_only=True)["model"]
    plain.load_state_dict(state)
    return dict(single_before=single_before, dist_before=dist_before, single_after=single_after,
                in_fit=in_fit, n_valid_batches=n_valid_batches, saved=saved, loaded=loaded,
                keys=sorted(state), plain=params(plain), target_mean=y.mean().item(),
                users_group_kept=users_group_kept)  # fmt: skip


def scenario_lr_find(out: Path) -> dict:
    torch.manual_seed(0)
    learn = synth_learner(n_trn=8, lr=1e-3)
    mse = nn.MSELoss()

    def loss_func(pred, targ):  # rank 1's loss blows up after 30 batches; rank 0's never does
        blow_up = RANK == 1 and learn.training and learn.train_iter >= 30
        return mse(pred, targ) * (1e4 if blow_up else 1.0)

    learn.loss_func = loss_func
    learn.create_opt()
    before = params(learn.model)
    before_opt = learn.opt.state_dict()["param_groups"][0]["lr"]
    curve = out / "curve.csv"
    with learn.distrib_ctx(timeout=TIMEOUT):
        sugg = learn.lr_find(num_it=80, show_plot=True, save_to=curve)
        curve_there = curve.exists()
    return dict(n_lrs=len(learn.recorder.lrs), losses=learn.recorder.losses, suggestion=list(sugg),
                restored=params(learn.model) == before, lr=learn.opt.param_groups[0]["lr"], lr_before=before_opt,
                fig=getattr(learn.recorder, "lr_find_fig", None) is not None, curve_there=curve_there)  # fmt: skip


def _nan_on_rank1_at(learn: Learner, step: int) -> None:
    mse = nn.MSELoss()

    def loss_func(pred, targ):
        bad = RANK == 1 and learn.training and learn.train_iter == step
        return mse(pred, targ) * (float("nan") if bad else 1.0)

    learn.loss_func = loss_func


def scenario_nonfinite(out: Path) -> dict:
    """Rank 1's loss is NaN at training step 4: every rank must stop (or skip) at that same step."""
    import warnings

    runs = {}
    for name, mode, ddp_kwargs in [("stop", "stop", None), ("skip", "skip", None),
                                   ("stop_allreduce", "stop", {"find_unused_parameters": True})]:  # fmt: skip
        torch.manual_seed(0)
        learn = synth_learner(n_trn=8, lr=1e-2, on_nonfinite=mode)
        _nan_on_rank1_at(learn, 4)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with learn.distrib_ctx(timeout=TIMEOUT, ddp_kwargs=ddp_kwargs), learn.no_logging():
                learn.fit(2)
        runs[name] = dict(n_losses=len(learn.recorder.losses), params=params(learn.model),
                          finite=all(torch.isfinite(p).all().item() for p in learn.model.parameters()),
                          warned=any("non-finite" in str(w.message) for w in caught))  # fmt: skip
    return runs


class RaiseOnRank1(Callback):
    """Rank 1 raises mid-epoch, noting the time in ``out/failed-at`` (the tests time from it, not
    from the process start, which a loaded machine stretches)."""

    def __init__(self, out: Path):
        self.out = out

    def after_batch(self):
        if RANK == 1 and self.learn.training and self.learn.epoch == 1 and self.learn.iter == 2:
            (self.out / "failed-at").write_text(repr(time.time()))
            raise RuntimeError("deliberate failure on rank 1")


class SleepOnRank1(RaiseOnRank1):
    """Rank 1 stops responding mid-epoch (noting the time, as above)."""

    def after_batch(self):
        if RANK == 1 and self.learn.training and self.learn.iter == 2:
            (self.out / "failed-at").write_text(repr(time.time()))
            time.sleep(120)


def scenario_error(out: Path) -> dict:
    learn = synth_learner(n_trn=6, cbs=RaiseOnRank1(out))
    with learn.distrib_ctx(timeout=TIMEOUT), learn.no_logging():
        learn.fit(3)
    return {}


def scenario_hang(out: Path) -> dict:
    learn = synth_learner(n_trn=6, cbs=SleepOnRank1(out))
    with learn.distrib_ctx(timeout=TIMEOUT), learn.no_logging():
        learn.fit(3)
    return {}


class RankSizedStream(IterableDataset):
    """An iterable dataset with one batch more on rank 1: it cannot be sharded by a sampler."""

    def __len__(self):
        return 4 + RANK

    def __iter__(self):
        for _ in range(len(self)):
            x = torch.randn(16, 1)
            yield x, 2 * x + 3


def scenario_mismatch(out: Path) -> dict:
    dls = DataLoaders(DataLoader(RankSizedStream(), batch_size=None), None)
    learn = Learner(dls, RegModel(), nn.MSELoss(), lr=1e-2)
    with learn.distrib_ctx(timeout=TIMEOUT), learn.no_logging():
        learn.fit(1)
    return {}


class ExitOnOneRank(Callback):
    """Rank ``EXIT_RANK`` calls ``sys.exit(3)`` mid-epoch (noting the time), while the other goes on
    into the next collective."""

    def after_batch(self):
        if RANK == self.rank and self.learn.training and self.learn.epoch == 1 and self.learn.iter == 2:
            (self.out / "exit-called").write_text(repr(time.time()))
            sys.exit(3)


def scenario_caught(out: Path) -> dict:
    """Rank 1 raises mid-epoch and catches the error outside the block; its script then ends
    normally while rank 0 waits in a collective for it."""
    learn = synth_learner(n_trn=6, cbs=RaiseOnRank1(out))
    try:
        with learn.distrib_ctx(timeout=TIMEOUT), learn.no_logging():
            learn.fit(3)
    except RuntimeError as e:
        if "deliberate failure" not in str(e):
            raise
        return {"caught": True}
    return {"caught": False}


def scenario_exit(out: Path) -> dict:
    cb = ExitOnOneRank()
    cb.rank, cb.out = int(os.environ["EXIT_RANK"]), out
    learn = synth_learner(n_trn=6, cbs=cb)
    with learn.distrib_ctx(timeout=TIMEOUT), learn.no_logging():
        learn.fit(3)
    return {}


class RaggedStream(IterableDataset):
    """Claims the same length on every rank but yields one batch more on rank 1 (a badly split stream)."""

    def __len__(self):
        return 4

    def __iter__(self):
        g = torch.Generator().manual_seed(RANK)
        for _ in range(4 + RANK):
            x = torch.randn(16, 1, generator=g)
            yield x, 2 * x + 3


def scenario_ragged(out: Path) -> dict:
    dls = DataLoaders(DataLoader(RaggedStream(), batch_size=None), None)
    learn = Learner(dls, RegModel(), nn.MSELoss(), lr=1e-2)
    with learn.distrib_ctx(timeout=TIMEOUT), learn.no_logging():
        learn.fit(2)
    return {}


if __name__ == "__main__":
    scenario, out = sys.argv[1], Path(sys.argv[2])
    result = globals()[f"scenario_{scenario}"](out)
    (out / f"{scenario}-rank{RANK}.json").write_text(json.dumps(result))
