"""Distributed data-parallel training: ``with learn.distrib_ctx(): learn.fit_one_cycle(...)``.

Launch the same script on every process with ``torchrun`` (one process per GPU, or several CPU
processes); inside :func:`distrib_ctx` the Learner trains with PyTorch's own
``DistributedDataParallel`` over ``torch.distributed`` (NCCL on GPUs, gloo on CPUs):

- the process group is initialised from torchrun's environment (``RANK``, ``WORLD_SIZE``,
  ``MASTER_ADDR``, ``MASTER_PORT``, ``LOCAL_RANK``) unless one already exists; collectives time
  out after ``timeout`` seconds, so a dead or stuck rank ends the others instead of hanging them;
  a rank that leaves on an error (an exception, ``sys.exit``, Ctrl-C) does not wait for the
  others at exit: it notes in the job's store that it left and why, and its exit closes its
  connections, so the others fail at once and name it (rank 0 prints it);
- each fit wraps the model in DDP (and unwraps it after, so ``freeze``/``unfreeze`` between fits
  work); the wrapper's ``state_dict`` is the model's, so saved weights carry no ``module.`` prefix;
- the training loader is sharded with a ``DistributedSampler`` (``set_epoch`` every epoch), the
  validation loader with a :class:`ShardSampler` that does not pad: validation losses and metrics
  are summed over ranks and cover each validation item exactly once;
- every rank runs the same number of training batches and builds the same schedule table; both
  are checked at the start of each epoch (a mismatch is a clear error on every rank, not a hang),
  and for an ``IterableDataset`` (whose length may not be what it yields) before every batch;
- from ``after_backward`` on, ``learn.loss`` is the mean training loss over ranks (what the
  Recorder logs and the LR finder tests for divergence), and a non-finite loss on any rank stops
  every rank at the same batch, before the optimizer step: both travel in DDP's own gradient
  all-reduce (no extra collective per step), so every decision taken on the loss is the same
  on all ranks;
- only rank 0 prints, shows progress bars, draws plots and writes files (``save``, ``lr_find``'s
  ``save_to``); the others wait for it and get its result. This goes through the Learner's
  public hooks, no method is replaced: ``learn.is_main`` (True on rank 0 only), which
  ``lr_find`` and the Recorder's plots consult, ``learn.share_main`` (``save`` and
  ``Recorder.save_curve`` write on rank 0, every rank gets the result) and ``learn.barrier``
  (where ``lr_find`` waits for rank 0's file and plot).

Outside a launch (no ``WORLD_SIZE`` in the environment and no process group) the context does
nothing, so the same script also runs as a plain ``python script.py``.

>>> from torch_adapter.testing import synth_learner
>>> learn = synth_learner()
>>> with learn.distrib_ctx():  # not launched by torchrun: a plain fit
...     with learn.no_logging(): learn.fit(1)
>>> rank_distrib(), num_distrib(), type(learn.model).__name__
(0, 1, 'RegModel')
"""

from __future__ import annotations

import atexit
import copy
import functools
import gc
import hashlib
import io
import math
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import (
    DataLoader,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

from .callback import Callback, CancelFitException, CancelStepException
from .learner import Learner, noop
from .schedule import ParamScheduler

__all__ = [
    "DEFAULT_TIMEOUT",
    "DistributedTrainer",
    "ShardSampler",
    "distrib_ctx",
    "num_distrib",
    "rank_distrib",
    "setup_distrib",
    "shard_loader",
    "teardown_distrib",
]

#: Seconds a collective (or the rendezvous) may wait for the other ranks before it fails.
DEFAULT_TIMEOUT = 600.0
_LAUNCH_VARS = ("RANK", "MASTER_ADDR", "MASTER_PORT")
#: did setup_distrib create the current group; is the at-exit handler registered; why this rank
#: is leaving (an error left a distrib_ctx block: set until a later block ends normally); has it
#: told the others; the client of the job's store (False: none reachable); the exit status of the
#: ``sys.exit`` that left the block; is the process ending through :func:`_exit_now`
_GROUP = {"ours": False, "atexit": False, "leaving": None, "announced": False, "store": None,
          "exit_code": None, "exiting": False, "n_at_exit": None}  # fmt: skip
_EXIT_WAIT = 30.0
#: seconds a rank whose error was caught waits at exit for the others (all ending too: a normal
#: exit; else it leaves as on an error, and the ranks blocked on it fail)
_CAUGHT_WAIT = 5.0
_STORE_WAIT = 5.0


# ------------------------------------------------------------------------- process group
def rank_distrib() -> int:
    """This process's rank: the process group's, else torchrun's ``RANK``, else 0.

    >>> rank_distrib()
    0
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return _env_int("RANK", 0)


def num_distrib() -> int:
    """The number of processes: the process group's size, else torchrun's ``WORLD_SIZE``, else 1.

    >>> num_distrib()
    1
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return _env_int("WORLD_SIZE", 1)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def _device_for(device=None) -> torch.device:
    """``device`` if given, else ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", _env_int("LOCAL_RANK", 0))
    return torch.device("cpu")


def _backend_for(device: torch.device, backend: str | None) -> str:
    if backend is None:
        return "nccl" if device.type == "cuda" else "gloo"
    if not isinstance(backend, str) or not backend:
        raise ValueError(f"backend must be a torch.distributed backend name such as 'gloo'; got {backend!r}")
    return backend


def setup_distrib(backend: str | None = None, device=None, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Initialise the default process group from torchrun's environment; True if this call did.

    Does nothing (False) when a process group already exists or the process was not launched
    distributed (no ``WORLD_SIZE``). ``backend`` defaults to ``"nccl"`` for a CUDA ``device``
    (default: ``cuda:LOCAL_RANK`` when CUDA is available) and ``"gloo"`` otherwise. Collectives
    time out after ``timeout`` seconds.

    >>> setup_distrib()  # not launched by torchrun
    False
    """
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    if not dist.is_available() or dist.is_initialized() or "WORLD_SIZE" not in os.environ:
        return False
    missing = [v for v in _LAUNCH_VARS if v not in os.environ]
    if missing:
        raise ValueError(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is set but {', '.join(missing)} not: launch with torchrun, "
            "or set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT"
        )
    dev = _device_for(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(
        _backend_for(dev, backend), init_method="env://", timeout=timedelta(seconds=timeout)
    )
    _register_at_exit()
    _GROUP["ours"] = True
    return True


def _register_at_exit() -> None:
    if not _GROUP["atexit"]:
        atexit.register(_teardown_at_exit)
        _GROUP["atexit"] = True
        _GROUP["n_at_exit"] = _n_at_exit()


def _n_at_exit() -> int | None:
    """How many at-exit handlers were ever registered (CPython's count never goes down)."""
    count = getattr(atexit, "_ncallbacks", None)
    return None if count is None else count()


def _run_at_exit_first() -> None:
    """Move our at-exit handler to run before every handler registered so far (an error is
    leaving a block: the process is likely ending), so that :func:`_exit_now` can run all the
    others after it, each once."""
    if _GROUP["atexit"]:
        atexit.unregister(_teardown_at_exit)
        atexit.register(_teardown_at_exit)
        _GROUP["n_at_exit"] = _n_at_exit()


def teardown_distrib(barrier: bool = True) -> None:
    """Destroy the default process group (after a barrier when ``barrier``); no-op without one.

    >>> teardown_distrib()
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        if barrier:
            dist.barrier()
    finally:
        _GROUP["ours"] = False
        dist.destroy_process_group()


def _teardown_at_exit() -> None:
    """At interpreter exit: a rank that is leaving on an error tells the others and goes at once;
    otherwise our group is destroyed once every rank is there (so that rank 0, which hosts the
    store, does not go first: that can abort the others at exit).

    "Leaving on an error": an uncaught exception ends the process, or an exception (``sys.exit``
    included) left the last ``distrib_ctx`` block. The other ranks may be blocked in a collective
    this rank will never join: waiting for them would hold every rank until the collective
    timeout, while exiting closes the connections, which fails them at once (and they find in the
    job's store which rank left and why). When every rank exits normally but one is elsewhere,
    rank 0 waits at most ``_EXIT_WAIT`` seconds for it (gloo's monitored barrier), then exits,
    which releases the others.
    """
    if _GROUP["exiting"]:  # called again by _exit_now, which runs the remaining handlers
        return
    try:
        status = _leave_or_tear_down()
    finally:
        _GROUP["store"] = None  # close our store client now, while the interpreter is whole
    if status is not None and _GROUP["n_at_exit"] is not None and _n_at_exit() == _GROUP["n_at_exit"]:
        _exit_now(status)  # ours runs first of all handlers (none registered since): the rest run in it


def _leave_or_tear_down() -> int | str | None:
    """Leave or tear down; the exit status to end with at once when leaving with a known one."""
    if not dist.is_initialized():
        return None
    if _GROUP["leaving"] is not None or "last_value" in vars(sys):
        status = _leaving_status()
        if status is None and _GROUP["ours"] and _all_ending(_CAUGHT_WAIT):
            _GROUP["ours"] = False  # the error was caught and every rank is ending too: a normal exit
            dist.destroy_process_group()
            return None
        _announce_leaving(_GROUP["leaving"] or _describe(getattr(sys, "last_value", None)))
        return status
    if _GROUP["ours"]:
        _tear_down()
    return None


def _all_ending(wait: float) -> bool:
    """Whether every rank reaches its exit within ``wait`` seconds: each notes its arrival in the
    job's store and waits for the others' notes (not a collective: a rank still blocked in one
    would not see a barrier, and gloo's monitored barrier makes the other ranks wait the whole
    collective timeout)."""
    store = _job_store()
    if store is None:
        return False
    try:
        store.set(_job_key("ending", dist.get_rank()), "1")
        store.wait([_job_key("ending", r) for r in range(dist.get_world_size())], timedelta(seconds=wait))
    except Exception:  # not all there in time, or the store's host is gone
        return False
    return True


def _tear_down() -> None:
    """Destroy our group once every rank is here (rank 0 waits at most ``_EXIT_WAIT`` seconds on
    gloo); nothing is destroyed when a rank is gone or elsewhere."""
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=timedelta(seconds=_EXIT_WAIT))
        else:
            dist.barrier()
    except Exception:  # a rank is gone or elsewhere: nothing more to wait for
        return
    _GROUP["ours"] = False
    dist.destroy_process_group()


def _leaving_status() -> int | str | None:
    """The status this leaving process would exit with: 1 for an uncaught exception ("SIGINT" for
    Ctrl-C, which Python answers by killing itself with SIGINT), the ``sys.exit`` code that left
    the block, or None when unknown (an error left the block, was caught, and the process ends
    some other way: then it ends as Python ends it, after tearing the group down normally when
    every rank is ending too)."""
    last = getattr(sys, "last_value", None)
    if last is not None:
        return "SIGINT" if isinstance(last, KeyboardInterrupt) else 1
    return _GROUP["exit_code"]


def _exit_status(e: SystemExit) -> int:
    """The status Python exits with for an uncaught ``e`` (it prints a non-integer code first)."""
    return 0 if e.code is None else e.code if isinstance(e.code, int) else 1


def _exit_now(status: int | str) -> None:
    """End a leaving rank at once with ``status``, skipping the C++ teardown of the process group.

    A rank that exits while another is blocked in a collective with it can abort in that
    teardown: gloo's threads are still running, and about 1 exit in 10 on 2 CPUs ends in
    "terminate called without an active exception" (SIGABRT, status -6 instead of the
    ``sys.exit`` code), also in plain PyTorch and also after ``destroy_process_group``. Ending
    with ``os._exit`` avoids it. What a normal exit does first is done here: the remaining
    at-exit handlers run (logging's, multiprocessing's, the user's) and every open Python file
    is flushed. Only called when our handler runs before every other (:func:`_run_at_exit_first`;
    nothing registered since), so each of the others runs exactly once. Otherwise the process
    ends as Python ends it.
    """
    _GROUP["exiting"] = True
    try:
        atexit._run_exitfuncs()  # the handlers registered before ours (ours returns at once)
    except BaseException:  # noqa: BLE001 - it reports a failing handler itself; the exit goes on
        pass
    for f in gc.get_objects():
        if isinstance(f, io.IOBase):
            try:
                if not f.closed and f.writable():
                    f.flush()
            except Exception:  # noqa: BLE001 - a broken file must not keep the process alive
                pass
    for f in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            f.flush()
        except Exception:  # noqa: BLE001 - closed or replaced streams
            pass
    if status == "SIGINT":
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        status = 128 + signal.SIGINT
    os._exit(int(status) & 0xFF)


# ------------------------------------------------------- which rank left (the job's store)
def _job_key(what: str, rank: int) -> str:
    """A key of ours in the job's store, per launch attempt (torchrun restarts count up)."""
    return f"torch_adapter/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/{what}/{rank}"


def _left_key(rank: int) -> str:
    return _job_key("left", rank)


def _job_store():
    """A client of the job's rendezvous store (``MASTER_ADDR:MASTER_PORT``), or None without one."""
    if _GROUP["store"] is None:
        try:
            _GROUP["store"] = dist.TCPStore(
                os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                timeout=timedelta(seconds=_STORE_WAIT), wait_for_workers=False,
            )  # fmt: skip
        except Exception:  # not a TCP rendezvous (file://, a custom store): no names, the rest works
            _GROUP["store"] = False
    return _GROUP["store"] or None


def _describe(e: BaseException | None) -> str:
    if isinstance(e, SystemExit):
        return f"sys.exit({e.code!r})"
    if e is None:
        return "an uncaught error"
    text = f"{type(e).__name__}: {e}".strip().splitlines()[0]
    return text if len(text) <= 200 else text[:197] + "..."


def _announce_leaving(reason: str) -> None:
    """Say on stderr, and in the job's store for the other ranks, that this rank leaves and why."""
    if _GROUP["announced"] or not dist.is_initialized():
        return
    _GROUP["announced"] = True
    rank = dist.get_rank()
    print(f"torch_adapter.distributed: rank {rank} leaves the job ({reason})", file=sys.stderr, flush=True)
    store = _job_store()
    if store is not None:
        try:
            store.set(_left_key(rank), reason)
        except Exception:  # the store's host is gone already: the others know from their connections
            pass


def _back_in_step() -> None:
    """A ``distrib_ctx`` block ended normally: this rank is not leaving (after all)."""
    if _GROUP["announced"] and _job_store() is not None:
        try:
            _job_store().delete_key(_left_key(dist.get_rank()))
        except Exception:
            pass
    _GROUP.update(leaving=None, announced=False, exit_code=None)


def _who_left(rank: int, world: int) -> str | None:
    """The other ranks that announced they left (``"rank 1 (sys.exit(3))"``), or None."""
    store = _job_store()
    if store is None:
        return None
    try:
        names = [
            f"rank {r} ({store.get(_left_key(r)).decode(errors='replace')})"
            for r in range(world)
            if r != rank and store.check([_left_key(r)])
        ]
    except Exception:  # the store is unreachable: its host has ended
        return None if rank == 0 else "rank 0 (or the launcher), which hosts the job's store,"
    return ", ".join(names) or None


def _on_error(e: BaseException) -> None:
    """An exception leaves a ``distrib_ctx`` block: name the rank that left if that is the cause,
    else note that this rank is leaving (told to the others at once for ``sys.exit`` and Ctrl-C,
    which end the process, else at exit)."""
    if not dist.is_initialized():
        return
    rank, world = dist.get_rank(), dist.get_world_size()
    if world > 1 and type(e) in (RuntimeError, dist.DistBackendError):  # a failed collective: who left?
        left = _who_left(rank, world)
        if left is not None:
            message = f"torch_adapter.distributed: {left} left the job; rank {rank} stops too"
            e.add_note(message)
            if rank == 0:
                print(message, file=sys.stderr, flush=True)
            _GROUP.update(leaving=f"stopped after {left} left", announced=True)  # the others know already
            _run_at_exit_first()
            return
    _GROUP["leaving"] = _describe(e)
    _GROUP["exit_code"] = _exit_status(e) if isinstance(e, SystemExit) else None
    _run_at_exit_first()
    if isinstance(e, (SystemExit, KeyboardInterrupt)):
        _announce_leaving(_GROUP["leaving"])


# ------------------------------------------------------------------------------ sharding
class ShardSampler(Sampler):
    """Rank ``rank``'s share of any sized iterable: items ``rank, rank + n, rank + 2n, ...``.

    Shards indices (a sampler), index batches (a batch sampler) or data batches alike. With
    ``pad`` every rank gets ``ceil(len/n)`` items, the last ranks repeating the first items (as
    ``DistributedSampler`` does: equal batch counts for training); without it, each item goes to
    exactly one rank (validation). ``set_epoch`` is passed on to ``base``.

    >>> list(ShardSampler(range(5), 2, 1)), list(ShardSampler(range(5), 2, 1, pad=True))
    ([1, 3], [1, 3, 0])
    """

    def __init__(self, base: Iterable, num_replicas: int, rank: int, pad: bool = False):
        if not hasattr(base, "__len__"):
            raise TypeError(f"cannot shard {base!r}: it has no length")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}); got {rank!r}")
        self.base, self.num_replicas, self.rank, self.pad = base, num_replicas, rank, pad

    def __len__(self) -> int:
        n, w = len(self.base), self.num_replicas
        return math.ceil(n / w) if self.pad else (n - self.rank + w - 1) // w

    def __iter__(self) -> Iterator:
        n, w, r = len(self.base), self.num_replicas, self.rank
        n_pad = len(self) * w - n if self.pad else 0
        head = []
        for i, item in enumerate(self.base):
            if i < n_pad:
                head.append(item)
            if i % w == r:
                yield item
        for g in range(n, n + n_pad):
            if g % w == r:
                yield head[(g - n) % len(head)]

    def set_epoch(self, epoch: int) -> None:
        """Pass the epoch on to ``base`` when it has ``set_epoch``."""
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)


def shard_loader(dl, rank: int, world: int, train: bool, seed: int = 0):
    """This rank's share of ``dl``: equal batch counts when ``train``, no duplicates otherwise.

    A map-style ``DataLoader`` is rebuilt with the same settings and a ``DistributedSampler``
    (training, when it shuffled or ran in order; ``seed`` must be the same on every rank) or a
    :class:`ShardSampler` over its sampler or batch sampler. A loader already using a
    ``DistributedSampler``, or over an ``IterableDataset`` (which must shard itself), is kept.
    Any other sized iterable of batches is sharded batch by batch.

    >>> list(shard_loader([10, 11, 12], rank=0, world=2, train=False))
    [10, 12]
    """
    if world == 1 or dl is None:
        return dl
    if not isinstance(dl, DataLoader):
        return ShardSampler(dl, world, rank, pad=train)
    if isinstance(dl.dataset, IterableDataset) or isinstance(dl.sampler, DistributedSampler):
        return dl
    if dl.batch_size is None:  # a custom batch sampler: shard its index batches
        return _rebuild(dl, batch_sampler=ShardSampler(dl.batch_sampler, world, rank, pad=train))
    if train and _plain_sampler(dl):
        shuffle = isinstance(dl.sampler, RandomSampler)
        return _rebuild(dl, sampler=DistributedSampler(dl.dataset, world, rank, shuffle=shuffle, seed=seed))
    return _rebuild(dl, sampler=ShardSampler(dl.sampler, world, rank, pad=train))


def _plain_sampler(dl: DataLoader) -> bool:
    """Does ``dl`` visit every item once per epoch, in order or shuffled (what DistributedSampler does)?"""
    s = dl.sampler
    if isinstance(s, SequentialSampler):
        return True
    return isinstance(s, RandomSampler) and not s.replacement and s.num_samples == len(dl.dataset)


def _rebuild(dl: DataLoader, **loader_args) -> DataLoader:
    """A ``DataLoader`` over ``dl.dataset`` with ``dl``'s settings and the given sampler."""
    args = dict(num_workers=dl.num_workers, collate_fn=dl.collate_fn, pin_memory=dl.pin_memory,
                timeout=dl.timeout, worker_init_fn=dl.worker_init_fn, generator=dl.generator,
                multiprocessing_context=dl.multiprocessing_context, persistent_workers=dl.persistent_workers,
                pin_memory_device=dl.pin_memory_device)  # fmt: skip
    if dl.num_workers > 0:
        args["prefetch_factor"] = dl.prefetch_factor
    if "batch_sampler" not in loader_args:
        args.update(batch_size=dl.batch_size, drop_last=dl.drop_last)
    return DataLoader(dl.dataset, **args, **loader_args)


def _sharded_dls(dls, rank: int, world: int, seed: int):
    """A shallow copy of ``dls`` whose ``train`` and ``valid`` are this rank's shards."""
    new = copy.copy(dls)
    try:
        new.train = shard_loader(dls.train, rank, world, train=True, seed=seed)
        new.valid = shard_loader(getattr(dls, "valid", None), rank, world, train=False)
    except AttributeError as e:
        raise TypeError(
            f"cannot shard {dls!r}: dls needs settable 'train' and 'valid' attributes ({e})"
        ) from None
    return new


# ------------------------------------------------------------------------ the callback
class _LossCarrier(nn.Module):
    """The model plus a scalar parameter ``carry`` whose gradient carries, through DDP's own
    gradient all-reduce, the mean training loss over ranks: non-finite if any rank's loss is.

    :meth:`attach` keeps the loss's value (or makes it 0 where it is not finite, so that no rank
    stops alone before the backward pass: the agreed decision comes after it) and gives
    ``carry`` this rank's loss as gradient: after the backward pass ``carry.grad`` is the mean.
    The common, finite case costs two tensor operations and no synchronisation beyond the loss
    read the Learner does anyway.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.carry = nn.Parameter(torch.zeros((), device=next(model.parameters()).device))

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def attach(self, loss: torch.Tensor, keep_nonfinite: bool) -> torch.Tensor:
        self.carry.grad = None
        value = loss.detach().item()
        if math.isfinite(value) or keep_nonfinite:
            return loss + self.carry * value  # value unchanged (carry is 0); d/d carry = this rank's loss
        finite_value = torch.where(torch.isfinite(loss), loss, torch.zeros_like(loss))
        return _Carry.apply(finite_value, self.carry, loss.detach())


class _Carry(torch.autograd.Function):
    """Identity on ``value``; its backward pass gives parameter ``p`` the gradient ``carried``."""

    @staticmethod
    def forward(ctx, value, p, carried):
        ctx.save_for_backward(carried)
        ctx.p_dtype = p.dtype
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        (carried,) = ctx.saved_tensors
        return grad, (grad * carried).to(ctx.p_dtype), None


class _DDP(DistributedDataParallel):
    """DDP whose ``state_dict``/``load_state_dict`` are the user's model's (no ``module.`` prefix)."""

    @property
    def inner(self) -> nn.Module:
        """The user's model (inside the loss carrier, if any)."""
        return self.module.model if isinstance(self.module, _LossCarrier) else self.module

    def state_dict(self, *args, **kwargs):
        return self.inner.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.inner.load_state_dict(state_dict, strict=strict, assign=assign)


class DistributedTrainer(Callback):
    """DDP for each fit, with the agreements that keep ranks in step (added by :func:`distrib_ctx`).

    ``before_fit`` wraps ``learn.model`` in DDP, ``finally_fit`` unwraps it (also on errors).
    ``before_epoch`` calls the training sampler's ``set_epoch``. ``before_train`` checks that
    all ranks have the same number of batches and the same schedule tables.

    The training loss: from ``after_backward`` on, ``learn.loss`` is the mean over ranks (what
    the Recorder logs and the LR finder tests), and a non-finite loss on any rank stops (or, with
    ``Learner(on_nonfinite="skip")``, skips the optimizer step of) every rank at the same batch,
    before the optimizer step. Both travel in DDP's gradient all-reduce (:class:`_LossCarrier`),
    at no extra collective; with ``find_unused_parameters=True`` (where DDP would not see the
    carrier) the loss is all-reduced right after ``after_loss`` instead, one scalar per step.

    Validation runs on the bare model (ranks may have different batch counts there) and
    ``after_validate`` sums the Recorder's per-item totals over ranks before the Recorder
    averages them. ``order`` 45: after callbacks that change the loss at the default order,
    before the Recorder (50) and the schedulers and LR finder (60).

    >>> DistributedTrainer().order, DistributedTrainer().device
    (45, device(type='cpu'))
    """

    order = 45

    def __init__(self, device=None, ddp_kwargs: dict | None = None):
        self.device, self.ddp_kwargs = _device_for(device), dict(ddp_kwargs or {})
        self._ddp, self._carrier, self._skip_step = None, None, False

    @property
    def world(self) -> int:
        return dist.get_world_size()

    @property
    def comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")

    def before_fit(self) -> None:
        learn = self.learn
        if isinstance(learn.model, DistributedDataParallel):
            return
        carry = self.world > 1 and not self.ddp_kwargs.get("find_unused_parameters", False)
        self._carrier = _LossCarrier(learn.model) if carry else None
        ids = [self.device.index] if self.device.type == "cuda" else None
        learn.model = _DDP(self._carrier or learn.model, device_ids=ids, **self.ddp_kwargs)

    def before_epoch(self) -> None:
        train = self.learn.dls.train
        for sampler in (getattr(train, "sampler", None), getattr(train, "batch_sampler", None), train):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(self.learn.epoch)
                return

    def before_train(self) -> None:
        if self.world > 1:
            _check_same_on_all_ranks(self.learn, self.comm_device)
            dl = self.learn.dl
            if isinstance(dl, DataLoader) and isinstance(dl.dataset, IterableDataset):
                self.learn.dl = _AgreedBatches(dl, self.comm_device)

    def after_loss(self) -> None:
        learn = self.learn
        if not learn.training or self.world == 1:
            return
        if self._carrier is not None:
            learn.loss = self._carrier.attach(learn.loss, keep_nonfinite=learn.on_nonfinite == "continue")
            return
        loss = learn.loss
        total = loss.detach().clone().to(self.comm_device)
        dist.all_reduce(total)
        learn.loss = (loss - loss.detach()) + (total / self.world).to(
            loss.device
        )  # value: the mean; grad: own

    def after_backward(self) -> None:
        learn = self.learn
        mean_t = self._carrier.carry.grad if self._carrier is not None and learn.training else None
        if mean_t is None:
            return
        learn.loss, mean = mean_t.detach().clone(), mean_t.item()  # a copy: DDP may reuse the grad buffer
        learn.loss_read = (learn.loss, mean)  # the Recorder and the LR finder reuse this read
        if not math.isfinite(mean) and learn.on_nonfinite != "continue":
            self._nonfinite(mean)

    def _nonfinite(self, mean: float) -> None:
        learn, stop = self.learn, self.learn.on_nonfinite == "stop"
        warnings.warn(
            f"non-finite training loss (mean over {self.world} ranks: {mean}) at epoch {learn.epoch}, batch "
            f"{learn.iter}: {'stopping the fit' if stop else 'skipping the step'} on every rank, before the "
            "optimizer step (Learner(on_nonfinite=...) to change this)",
            stacklevel=2,
        )
        if stop:
            learn.opt.zero_grad()
            raise CancelFitException()
        self._skip_step = True

    def before_step(self) -> None:
        if self._skip_step:
            self._skip_step = False
            raise CancelStepException()

    def before_validate(self) -> None:
        if isinstance(self.learn.model, _DDP):
            self._ddp, self.learn.model = self.learn.model, self.learn.model.inner

    def after_validate(self) -> None:
        if self._ddp is not None:
            self.learn.model, self._ddp = self._ddp, None

    def finally_fit(self) -> None:
        self._ddp, self._carrier, self._skip_step = None, None, False
        if isinstance(self.learn.model, _DDP):
            self.learn.model = self.learn.model.inner


def _check_same_on_all_ranks(learn, comm_device: torch.device) -> None:
    """Fail on every rank, not hang, when ranks differ in batch count or schedule table."""
    prints = "|".join(str(cb.table_fingerprint()) for cb in learn.cbs if isinstance(cb, ParamScheduler))
    table = int.from_bytes(hashlib.blake2b(prints.encode(), digest_size=7).digest(), "little")
    mine = torch.tensor([len(learn.dl), table], dtype=torch.int64, device=comm_device)
    every = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(every, mine)
    batches, tables = ([int(t[i]) for t in every] for i in range(2))
    if len(set(batches)) > 1:
        raise _OnEveryRank(
            f"ranks would run different numbers of training batches this epoch (by rank: {batches})"
            ", which hangs DDP: use map-style DataLoaders (distrib_ctx shards them) or loaders of equal length"
        )
    if len(set(tables)) > 1:
        raise _OnEveryRank(f"the schedule tables differ across ranks (table fingerprints by rank: {tables})")


class _OnEveryRank(RuntimeError):
    """An error every rank raises at the same point (a disagreement found by a collective): no rank
    left because of another, so none is named as having left."""


class _AgreedBatches:
    """A training loader whose length says nothing certain (an ``IterableDataset``'s), iterated so
    that every rank agrees before each batch that all ranks have one, and at the end that none has
    more: a rank that runs out early is a clear error on every rank, not a collective mismatch
    that aborts a process (gloo) or hangs. One one-number all-reduce per batch; map-style loaders
    (sharded to equal counts, checked each epoch) do without."""

    def __init__(self, dl, comm_device: torch.device):
        self.dl, self.comm_device = dl, comm_device

    def __len__(self) -> int:
        return len(self.dl)

    def __iter__(self) -> Iterator:
        n = 0
        for batch in self.dl:
            self._agree(True, n)
            yield batch
            n += 1
        self._agree(False, n)

    def _agree(self, have: bool, n: int) -> None:
        count = torch.tensor([int(have)], dtype=torch.int64, device=self.comm_device)
        dist.all_reduce(count)
        k, world = int(count.item()), dist.get_world_size()
        if k not in (0, world):
            raise _OnEveryRank(
                f"ranks have different numbers of training batches this epoch: after {n} batches, {k} of {world} "
                f"ranks had another batch and {world - k} had none (this rank: {'another' if have else 'none'}). "
                "An IterableDataset must give every rank the same number of batches (split it by rank_distrib())"
            )


def _sum_over_ranks(comm_device: torch.device, count: int, sums: list) -> tuple[int, list]:
    """The Recorder's ``reduce_totals`` hook in distributed training: totals summed over the ranks."""
    buf = torch.tensor([float(count)] + [float(v) for v in sums], dtype=torch.float64, device=comm_device)
    dist.all_reduce(buf)
    return round(buf[0].item()), buf[1:].tolist()


# ----------------------------------------------------------------- the rank-0 hook
def _share_from_rank0(fn: Callable[[], Any]) -> Any:
    """The Learner's ``share_main`` hook: ``fn()`` runs on rank 0 only; every rank waits for it
    and returns its result (or fails)."""
    result, error = None, None
    if dist.get_rank() == 0:
        try:
            result = fn()
        except Exception as e:
            error = e
    box = [(result, None if error is None else f"{type(error).__name__}: {error}")]
    dist.broadcast_object_list(box, src=0)
    if error is not None:
        raise error
    result, message = box[0]
    if message is not None:
        raise RuntimeError(f"{getattr(fn, '__name__', 'the call')} failed on rank 0: {message}")
    return result


def _patch(undo: ExitStack, obj, name: str, value) -> None:
    """Set ``obj.name = value`` on the instance until ``undo`` closes."""
    had, old = name in vars(obj), vars(obj).get(name)
    setattr(obj, name, value)

    def restore():
        if had:
            setattr(obj, name, old)
        elif name in vars(obj):
            delattr(obj, name)

    undo.callback(restore)


# ------------------------------------------------------------------------ the context
@contextmanager
def distrib_ctx(learn: Learner, backend: str | None = None, device=None, timeout: float = DEFAULT_TIMEOUT,
                seed: int | None = None, ddp_kwargs: dict | None = None) -> Iterator[Learner]:  # fmt: skip
    """Context manager (also ``Learner.distrib_ctx``): train with DDP on every rank inside the block.

    Initialises the process group from torchrun's environment when there is none (``backend``
    defaults to NCCL for a CUDA ``device``, default ``cuda:LOCAL_RANK`` when CUDA is available,
    else gloo on the CPU; collectives fail after ``timeout`` seconds). Moves the model to
    ``device``, shards ``learn.dls`` (training shuffle seeded by ``seed``, default rank 0's
    ``torch.initial_seed()``), adds a :class:`DistributedTrainer` (DDP built with
    ``ddp_kwargs``), and makes printing, progress bars, plots and file writes rank 0's (sets the
    Learner's ``is_main``, ``share_main`` and ``barrier`` hooks; replaces no method). All of
    it is undone on exit, also on errors. Outside a torchrun launch it does nothing. Call
    ``fit``, ``validate``, ``save``, ``load`` and ``lr_find`` on every rank: they are collective.

    A process group this module created is kept after the block, for the next ``distrib_ctx``
    to reuse (PyTorch cannot reliably create a second default group in one process once DDP has
    run: pytorch issues 74666, 55967), and destroyed at interpreter exit once all ranks are
    there -- but not when the process ends on an error (an uncaught exception, or one that left
    the block, ``sys.exit`` included): then it exits at once, noting in the job's store (the
    ``MASTER_ADDR:MASTER_PORT`` rendezvous) that it left and why, and its exit closes its
    connections, which fails the other ranks at once; they name it (rank 0 prints "rank 1
    (sys.exit(3)) left the job"). It exits with the status Python would give it (the
    ``sys.exit`` code; 1 for an exception) through ``os._exit``, after the other at-exit handlers
    (each once) and a flush of every open file: PyTorch's C++ teardown of a group whose peer is
    blocked on this rank can abort the process (SIGABRT). (If an at-exit handler is registered
    after the error, Python ends the process as usual.) An error that left the block but was
    caught is no reason to leave when every rank is ending too: then, after waiting at most
    5 s for them, the group is torn down as on a normal exit. An error is never answered by destroying
    the group while other ranks may still use it (that can abort them). A group the caller
    created is never destroyed here.

    >>> from torch_adapter.testing import synth_learner
    >>> learn = synth_learner()
    >>> with learn.distrib_ctx() as l: l is learn
    True
    """
    if isinstance(learn.model, DistributedDataParallel):
        raise TypeError("distrib_ctx wraps the model in DDP itself: give the Learner the plain model")
    setup_distrib(backend, device, timeout)
    if not (dist.is_available() and dist.is_initialized()):
        yield learn
        return
    with _distributed(learn, device, seed, ddp_kwargs):
        yield learn


@contextmanager
def _distributed(learn: Learner, device, seed: int | None, ddp_kwargs: dict | None) -> Iterator[None]:
    """Install everything :func:`distrib_ctx` changes on the Learner; undo it on exit."""
    rank, world, dev = dist.get_rank(), dist.get_world_size(), _device_for(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        learn.model.to(dev)
    trainer = DistributedTrainer(dev, ddp_kwargs)
    with ExitStack() as undo:
        _patch(undo, learn, "dls", _sharded_dls(learn.dls, rank, world, _shared_seed(seed, trainer)))
        if rank != 0:
            _patch(undo, learn, "logger", noop)
        # public hooks, no method replaced: save, lr_find, Recorder.save_curve and the plots consult them
        _patch(undo, learn, "is_main", rank == 0)
        _patch(undo, learn, "share_main", _share_from_rank0)
        _patch(undo, learn, "barrier", dist.barrier)
        rec = getattr(learn, "recorder", None)
        if rec is not None and world > 1:
            _patch(undo, rec, "reduce_totals", functools.partial(_sum_over_ranks, trainer.comm_device))
        learn.add_cb(trainer)
        undo.callback(learn.remove_cb, trainer)
        undo.callback(trainer.finally_fit)  # unwrap DDP if a fit left it (runs before remove_cb)
        _register_at_exit()
        _job_store()  # connect now: when a rank leaves, its note must not wait for a new connection
        try:
            yield
        except GeneratorExit:
            raise
        except BaseException as e:
            try:
                _on_error(e)
            except Exception as note_failed:  # never hide the error itself
                e.add_note(f"torch_adapter.distributed: could not tell the other ranks: {note_failed!r}")
            raise
        _back_in_step()


def _shared_seed(seed: int | None, trainer: DistributedTrainer) -> int:
    """``seed``, or rank 0's ``torch.initial_seed()`` sent to every rank (the global RNG is untouched)."""
    if seed is not None:
        return int(seed)
    mine = torch.tensor([torch.initial_seed() % 2**31], dtype=torch.int64, device=trainer.comm_device)
    dist.broadcast(mine, src=0)
    return int(mine.item())
