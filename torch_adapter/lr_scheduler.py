"""schedcore schedules as a ``torch.optim.lr_scheduler.LRScheduler``, for hand-written loops,
Lightning, Hugging Face's Trainer, or anything else that drives a torch scheduler.

:class:`TableScheduler` asks schedcore for the whole table once (one vectorised call per
hyper-parameter) and, on each ``step()``, writes row ``k`` into every parameter group: ``lr``, and
``mom`` / ``sqr_mom`` / ``wd`` where they are scheduled (through :mod:`torch_adapter.optim`).
Row ``k`` is ``f(k / total_steps)`` (closed form, never a recursion), so a resumed run continues
with exactly the values an uninterrupted run would have used.

>>> import torch, schedcore
>>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
>>> sched = TableScheduler(opt, schedcore.one_cycle(1e-2), total_steps=4)
>>> [round(sched.get_last_lr()[0], 6)]
[0.0004]
>>> opt.step(); sched.step()
>>> sched.get_last_lr()[0], round(opt.param_groups[0]["momentum"], 6)
(0.01, 0.85)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

import schedcore
from schedcore import Schedule, ScheduleTable
from schedcore.guards import check_int

from .optim import TableWriter
from .schedule import whole_number

__all__ = ["TableScheduler"]

_STATE_FORMAT = "torch_adapter.TableScheduler/1"
_ON_OVERRUN = ("warn", "raise")

Source = Mapping[str, Schedule] | Schedule | ScheduleTable | str | os.PathLike


class TableScheduler(LRScheduler):
    """A torch LR scheduler that applies a precomputed schedcore table, one row per step.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    source : dict of name -> Schedule, a Schedule, a ScheduleTable, or a table file path
        What to schedule. A dict as schedcore's policies return (``{"lr": ..., "mom": ...}``);
        a single schedule is the ``lr``; a :class:`schedcore.ScheduleTable` or a ``.npz``/``.csv``
        file written by :func:`schedcore.save_table` is used as is (it must hold every step
        ``0 .. n_steps-1``). Names are the uniform hyper-parameter names of ``design.md``
        (``lr``, ``mom``, ``sqr_mom``, ``wd``, ...); ``lr`` is required.
    total_steps : int, optional
        Number of optimizer steps the schedule spans (row ``k`` is ``f(k / total_steps)``).
        Required for schedules; for a table it defaults to the table's length and, when given,
        must equal it.
    on_overrun : {"warn", "raise"}
        What happens when ``step()`` goes beyond ``total_steps``. The ``total_steps``-th
        ``step()`` (the one after the last optimizer step of the usual loop) is normal; any
        later step holds the last row and warns once (``"warn"``) or raises ``ValueError``.
    last_epoch : int
        As in torch; prefer ``load_state_dict`` to resume.
    dtype : float64 or float32
        The table's dtype when built from schedules (also ``dtype=`` on the policy constructors):
        float32 halves its memory; the optimizer gets the float32 values.

    Learning rates and parameter groups: a column of shape ``(total_steps, G)`` gives group ``g``
    column ``g``; a 1-D column (a scalar ``lr_max``) gives every group the same values, whatever
    lr each group had. The policy constructors (:meth:`one_cycle`, :meth:`flat_cos`,
    :meth:`sgdr`, :meth:`warmup_cosine`, :meth:`wsd`) take ``lr_max=None`` to keep differential
    learning rates instead, as Hugging Face's schedulers do: each group's own lr (its
    ``initial_lr`` once a torch scheduler has recorded it) is that group's peak. A ``slice`` or an
    array ``lr_max`` gives explicit per-group peaks.

    Pickling: a TableScheduler can be pickled or saved with ``torch.save`` as an object (with its
    optimizer), whatever it schedules; for checkpoints prefer :meth:`state_dict`.

    Changing the length of a run on resume is supported for :meth:`wsd` only (see
    :meth:`load_state_dict`); every other schedule must be rebuilt with the checkpoint's
    ``total_steps``, since its earlier rows depend on the total length.

    Contract (as torch documents for ``LRScheduler``): after construction the optimizer holds
    row 0; after the k-th ``step()`` it holds row k; ``get_last_lr()`` is the list of the
    groups' current learning rates. A column of shape ``(total_steps, G)`` gives group ``g``
    column ``g`` (G must equal the number of parameter groups); a 1-D column goes to every group.

    Raises
    ------
    ValueError
        ``total_steps < 1``, a table whose length differs from ``total_steps``, a schedule for a
        hyper-parameter the optimizer lacks, a per-group width that is not the group count, no
        ``lr``, or non-finite values.
    TypeError
        ``optimizer`` is not a torch optimizer, or ``source`` is none of the accepted kinds.

    >>> import torch, schedcore
    >>> opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    >>> sched = TableScheduler(opt, schedcore.SchedLin(0.0, 1.0), total_steps=4)
    >>> lrs = []
    >>> for _ in range(4):
    ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
    >>> lrs
    [0.0, 0.25, 0.5, 0.75]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        source: Source,
        total_steps: int | None = None,
        *,
        on_overrun: str = "warn",
        last_epoch: int = -1,
        dtype: Any = np.float64,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer; got {type(optimizer).__name__}")
        last_epoch = check_int(last_epoch, "last_epoch", min=-1)
        if not isinstance(on_overrun, str) or on_overrun not in _ON_OVERRUN:
            raise ValueError(f"on_overrun must be one of {_ON_OVERRUN}; got {on_overrun!r}")
        self.table = _as_table(source, total_steps, dtype)
        if "lr" not in self.table:
            raise ValueError(f"the schedule must include 'lr'; got {sorted(self.table)}")
        self.total_steps = self.table.n_steps
        self.on_overrun = on_overrun
        self.writer = TableWriter(optimizer, self.table)  # checks widths, names and values once
        self._n_groups = self.writer.n_groups
        self._overrun_warned = False
        super().__init__(optimizer, last_epoch)

    # --------------------------------------------------------------------------- torch protocol

    def get_lr(self) -> list[float]:
        """The learning rates of the current step's row (closed form, no side effects).

        >>> import torch, schedcore
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> TableScheduler(opt, schedcore.SchedLin(0.5, 1.0), 2).get_lr()
        [0.5]
        """
        return self.writer.values("lr", self._row_of(self.last_epoch))

    def step(self, epoch: int | None = None) -> None:
        """Advance one step (or jump to step ``epoch``, deprecated in torch) and write its row.

        >>> import torch, schedcore
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = TableScheduler(opt, schedcore.SchedLin(0.0, 1.0), 2)
        >>> opt.step(); sched.step(); opt.param_groups[0]["lr"]
        0.5
        """
        if epoch is None and self._step_count >= 2:  # the fast path: torch's bookkeeping, inlined
            k = self.last_epoch + 1
            row = k if k < self.total_steps else self._checked_row(k)
            self._step_count += 1
            self.last_epoch = k
        else:
            row = self._checked_row(self.last_epoch + 1 if epoch is None else _step_index(epoch))
            self.writer.check_groups()  # a clear error before torch's own (a zip length error)
            super().step(epoch)  # torch's own bookkeeping: call-order and deprecation warnings
        self._write_row(row)

    def state_dict(self) -> dict[str, Any]:
        """The step count plus a fingerprint of the table (not the table itself).

        >>> import torch, schedcore
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> s = TableScheduler(opt, schedcore.SchedLin(0.0, 1.0), 10).state_dict()
        >>> s["last_epoch"], s["total_steps"], s["hypers"]
        (0, 10, ['lr'])
        """
        return {
            "format": _STATE_FORMAT,
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "total_steps": self.total_steps,
            "n_groups": self._n_groups,
            "hypers": self._hypers(),
            "table_digest": self.table_digest,
            "overrun_warned": self._overrun_warned,
            **({"wsd": dict(self._wsd)} if getattr(self, "_wsd", None) else {}),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume at the saved step and write that step's row into the optimizer.

        The scheduler must be rebuilt from the same arguments: a different table (other
        hyper-parameters, steps, groups or values) raises ``ValueError`` listing the differences.
        Loading before or after ``optimizer.load_state_dict`` gives the same result.

        One exception, the main use of warmup-stable-decay: a :meth:`wsd` scheduler may resume a
        :meth:`wsd` checkpoint with another ``total_steps`` (extending the stable phase, or
        shortening it) when every row the checkpoint had applied (steps ``0 .. last_epoch``) is
        the same in the new schedule (to 4 units in the last place: the warmup is recomputed at
        positions ``k / total_steps``; the stable rows are bitwise ``lr_max``). That holds when the
        checkpoint was taken before the old decay began and the new run keeps ``lr_max``,
        ``warmup_start`` and the warmup length in steps (``warmup_steps=``); the decay may change.

        >>> import torch, schedcore
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> a = TableScheduler(opt, schedcore.SchedLin(0.0, 1.0), 4)
        >>> opt.step(); a.step(); opt.step(); a.step()
        >>> b = TableScheduler(opt, schedcore.SchedLin(0.0, 1.0), 4)
        >>> b.load_state_dict(a.state_dict()); b.last_epoch, opt.param_groups[0]["lr"]
        (2, 0.5)
        >>> TableScheduler(opt, schedcore.SchedLin(0.0, 2.0), 4).load_state_dict(a.state_dict())
        Traceback (most recent call last):
        ...
        ValueError: scheduler state does not match this TableScheduler: table values differ ...
        """
        self._check_state(state_dict)
        last_epoch = check_int(_scalar_state(state_dict["last_epoch"]), "last_epoch", min=-1)
        step_count = check_int(_scalar_state(state_dict["_step_count"]), "_step_count", min=0)
        self.last_epoch, self._step_count = last_epoch, step_count
        self._overrun_warned = bool(state_dict.get("overrun_warned", False))
        self._write_row(self._row_of(self.last_epoch))

    # ------------------------------------------------------------------------------ internals

    @property
    def table_digest(self) -> str:
        """A hash of the table's names, shape and values (what ``load_state_dict`` compares)."""
        return self.writer.fingerprint(self.total_steps)

    def _hypers(self) -> list[str]:
        return ["lr"] + [name for name in self.writer.columns if name != "lr"]

    def _row_of(self, k: int) -> int:
        return min(max(k, 0), self.total_steps - 1)

    def _checked_row(self, k: int) -> int:
        """Row for step ``k``; beyond ``total_steps`` warn once or raise, as configured."""
        if k > self.total_steps:
            msg = (
                f"TableScheduler stepped to step {k}, past total_steps={self.total_steps}; "
                f"holding the last value"
            )
            if self.on_overrun == "raise":
                raise ValueError(msg.replace("; holding the last value", " (on_overrun='raise')"))
            if not self._overrun_warned:
                self._overrun_warned = True
                warnings.warn(msg, UserWarning, stacklevel=3)
        return self._row_of(k)

    def _write_row(self, row: int) -> None:
        self.writer.write(row)  # checks the group count
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        self._last_lr = [lr if type(lr) is float else lr.clone() for lr in lrs]

    def _check_state(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or state.get("format") != _STATE_FORMAT:
            found = state.get("format") if isinstance(state, Mapping) else type(state).__name__
            raise ValueError(f"not a TableScheduler state (format {found!r}, expected {_STATE_FORMAT!r})")
        missing = [k for k in ("last_epoch", "_step_count") if k not in state]
        if missing:
            raise ValueError(f"the scheduler state lacks {missing} (saved by something else, or edited)")
        mine = self.state_dict()
        diffs = [
            f"{key} {state.get(key)!r} in the checkpoint, {mine[key]!r} here"
            for key in ("total_steps", "n_groups", "hypers")
            if state.get(key) != mine[key]
        ]
        if len(diffs) == 1 and state.get("total_steps") != mine["total_steps"]:  # only the length differs
            if "wsd" in state and "wsd" in mine:
                self._check_wsd_extension(state)
                return
            diffs[0] += (
                " (only a TableScheduler.wsd run can change its length on resume, from a checkpoint"
                " taken before its decay, with the warmup given in steps)"
            )
        if not diffs and state.get("table_digest") != mine["table_digest"]:
            diffs.append("table values differ (same shape, other numbers)")
        if diffs:
            raise ValueError(
                "scheduler state does not match this TableScheduler: "
                + "; ".join(diffs)
                + ". Rebuild the scheduler with the arguments used when the checkpoint was saved."
            )

    def _check_wsd_extension(self, state: Mapping[str, Any]) -> None:
        """Resuming a WSD checkpoint with another ``total_steps``: the rows it applied must match."""
        n_old, k = int(state["total_steps"]), int(state["last_epoch"])
        old = _wsd_table(state["wsd"], n_old, self._n_groups)
        if TableWriter(self.optimizer, old).fingerprint(n_old) != state["table_digest"]:
            raise ValueError("scheduler state does not match this TableScheduler: its WSD settings do not give its table")
        rows = slice(0, min(max(k, 0), n_old - 1) + 1)
        before, now = old["lr"][rows], self.table["lr"][rows]
        rtol = 4 * np.finfo(before.dtype).eps  # the warmup is recomputed at positions k / total_steps
        bad = np.flatnonzero(~np.isclose(before, now, rtol=rtol, atol=0).reshape(len(before), -1).all(1))
        if bad.size:
            j, w = int(bad[0]), state["wsd"]
            raise ValueError(
                f"cannot resume this WSD checkpoint (step {k} of {n_old}) with total_steps={self.total_steps}: "
                f"step {j} had lr {before[j]} and would now have {now[j]}. Keep lr_max, warmup_start and the "
                f"warmup length in steps (warmup_steps={w['warmup_pct'] * n_old:g}), and resume before the "
                f"old decay began (step {n_old - w['decay_pct'] * n_old:g})"
            )

    def __repr__(self) -> str:
        names = ", ".join(self._hypers())
        return f"TableScheduler(total_steps={self.total_steps}, hypers=[{names}], step={self.last_epoch})"

    # -------------------------------------------------------------------- policy constructors

    @classmethod
    def _from_policy(cls, policy, optimizer, total_steps, on_overrun: str, lr_max, *args: Any, **kwargs: Any):
        """``policy(lr_max, *args, n_groups=<the optimizer's group count>, **kwargs)`` over
        ``total_steps``; ``lr_max=None`` is each group's own lr."""
        n = len(_optimizer(optimizer).param_groups)
        dtype = kwargs.pop("dtype", np.float64)
        scheds = policy(_peaks(optimizer, lr_max), *args, n_groups=n, **kwargs)
        return cls(optimizer, scheds, total_steps, on_overrun=on_overrun, dtype=dtype)

    @classmethod
    def one_cycle(
        cls, optimizer: Optimizer, total_steps: int, lr_max: Any, *, on_overrun: str = "warn", **policy: Any
    ) -> TableScheduler:
        """1cycle over ``total_steps``: :func:`schedcore.one_cycle` (``div``, ``div_final``,
        ``pct_start``, ``moms``; ``moms=None`` leaves momentum alone). A scalar ``lr_max`` is
        every group's peak; a ``slice`` or array gives one per group; ``None`` takes each
        group's own lr as its peak (differential learning rates survive).

        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0, momentum=0.9)
        >>> TableScheduler.one_cycle(opt, 100, 1e-2).get_last_lr()
        [0.0004]
        >>> w, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
        >>> opt = torch.optim.SGD([{"params": [w], "lr": 1e-3}, {"params": [b], "lr": 1e-1}], lr=1.0)
        >>> TableScheduler.one_cycle(opt, 100, lr_max=None, moms=None).get_last_lr()  # peaks 1e-3, 1e-1
        [4e-05, 0.004]
        """
        return cls._from_policy(schedcore.one_cycle, optimizer, total_steps, on_overrun, lr_max, **policy)

    @classmethod
    def flat_cos(
        cls, optimizer: Optimizer, total_steps: int, lr: Any, *, on_overrun: str = "warn", **policy: Any
    ) -> TableScheduler:
        """Flat then cosine over ``total_steps``: :func:`schedcore.flat_cos` (``div_final``,
        ``pct_start``). ``lr=None`` keeps each group's own lr (see :meth:`one_cycle`).

        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> TableScheduler.flat_cos(opt, 100, 1e-2).get_last_lr()
        [0.01]
        """
        return cls._from_policy(schedcore.flat_cos, optimizer, total_steps, on_overrun, lr, **policy)

    @classmethod
    def sgdr(
        cls,
        optimizer: Optimizer,
        total_steps: int | None,
        n_cycles: int,
        cycle_len: float,
        lr_max: Any,
        *,
        steps_per_epoch: int | None = None,
        on_overrun: str = "warn",
        **policy: Any,
    ) -> TableScheduler:
        """SGDR warm restarts: :func:`schedcore.sgdr` (``cycle_mult``, ``min_lr``,
        ``cycle_decay``); ``lr_max=None`` keeps each group's own lr (see :meth:`one_cycle`). Give ``total_steps``, or ``total_steps=None`` and ``steps_per_epoch``
        to span sgdr's own epoch count (``n_epoch * steps_per_epoch`` steps); the epoch count
        is kept as ``.n_epoch``.

        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> s = TableScheduler.sgdr(opt, None, 3, 1, 0.1, steps_per_epoch=10)
        >>> s.n_epoch, s.total_steps
        (7, 70)
        """
        n = len(_optimizer(optimizer).param_groups)
        dtype = policy.pop("dtype", np.float64)
        scheds, n_epoch = schedcore.sgdr(n_cycles, cycle_len, _peaks(optimizer, lr_max), n_groups=n, **policy)
        if total_steps is None:
            if steps_per_epoch is None:
                raise ValueError("sgdr needs total_steps, or total_steps=None and steps_per_epoch")
            total_steps = whole_number(
                _positive_int(steps_per_epoch, "steps_per_epoch") * n_epoch, "n_epoch * steps_per_epoch"
            )
        elif steps_per_epoch is not None:
            raise ValueError(
                f"give total_steps or steps_per_epoch, not both; got {total_steps!r} and {steps_per_epoch!r}"
            )
        sched = cls(optimizer, scheds, total_steps, on_overrun=on_overrun, dtype=dtype)
        sched.n_epoch = n_epoch
        return sched

    @classmethod
    def warmup_cosine(
        cls,
        optimizer: Optimizer,
        total_steps: int,
        lr_max: Any,
        warmup_pct: float,
        *,
        on_overrun: str = "warn",
        **policy: Any,
    ) -> TableScheduler:
        """Linear warmup then cosine: :func:`schedcore.warmup_cosine` (``min_lr``, ``warmup_start``);
        ``lr_max=None`` keeps each group's own lr (see :meth:`one_cycle`).

        >>> import torch
        >>> opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
        >>> TableScheduler.warmup_cosine(opt, 100, 1e-3, 0.1, warmup_start=1e-5).get_last_lr()
        [1e-05]
        """
        return cls._from_policy(
            schedcore.warmup_cosine, optimizer, total_steps, on_overrun, lr_max, warmup_pct, **policy
        )

    @classmethod
    def wsd(
        cls,
        optimizer: Optimizer,
        total_steps: int,
        lr_max: Any,
        warmup_pct: float | None = None,
        decay_pct: float | None = None,
        *,
        warmup_steps: int | None = None,
        decay_steps: int | None = None,
        on_overrun: str = "warn",
        **policy: Any,
    ) -> TableScheduler:
        """Warmup-stable-decay: :func:`schedcore.wsd` (``min_lr``, ``decay``, ``warmup_start``);
        ``lr_max=None`` keeps each group's own lr (see :meth:`one_cycle`).

        Each phase is a fraction (``warmup_pct``, ``decay_pct``) or a number of steps
        (``warmup_steps``, ``decay_steps``). Give the warmup in steps to be able to extend the
        run from a checkpoint taken in its stable phase: rebuild with the new ``total_steps`` and
        ``load_state_dict`` the checkpoint (see :meth:`load_state_dict`).

        >>> import torch
        >>> opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
        >>> s = TableScheduler.wsd(opt, 10, 1e-3, 0.1, 0.2)
        >>> s.table["lr"].round(6).tolist()
        [0.0, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.0005]
        >>> for _ in range(5): opt.step(); s.step()
        >>> longer = TableScheduler.wsd(opt, 20, 1e-3, warmup_steps=1, decay_steps=2)
        >>> longer.load_state_dict(s.state_dict()); longer.last_epoch, longer.total_steps
        (5, 20)
        """
        n = _positive_int(total_steps, "total_steps")
        warmup = _phase(warmup_pct, warmup_steps, n, "warmup")
        decay = _phase(decay_pct, decay_steps, n, "decay")
        n_groups = len(_optimizer(optimizer).param_groups)
        peaks = _peaks(optimizer, lr_max)
        if isinstance(peaks, slice):
            peaks = schedcore.group_values(peaks, n_groups)
        sched = cls._from_policy(schedcore.wsd, optimizer, n, on_overrun, peaks, warmup, decay, **policy)
        lr = np.asarray(peaks, dtype=float)
        dtype = np.dtype(policy.pop("dtype", np.float64)).name  # a name: checkpoints load with weights_only
        sched._wsd = {"lr_max": lr.tolist(), "warmup_pct": warmup, "decay_pct": decay, "dtype": dtype, **policy}
        return sched


# ---------------------------------------------------------------------------------- helpers


def _optimizer(optimizer: Any) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer; got {type(optimizer).__name__}")
    return optimizer


def _positive_int(value: Any, name: str) -> int:
    return check_int(value, name, min=1)


def _peaks(optimizer: Optimizer, lr_max: Any) -> Any:
    """``lr_max`` as given; for ``None``, each group's own learning rate: its ``initial_lr`` when a
    torch scheduler has recorded it (so a scheduler rebuilt after ``optimizer.load_state_dict``
    finds the same peaks), else its current ``lr``."""
    if lr_max is not None:
        return lr_max
    groups = _optimizer(optimizer).param_groups
    return np.array([float(g.get("initial_lr", g["lr"])) for g in groups])


def _phase(pct: float | None, steps: int | None, total_steps: int, name: str) -> float:
    """A phase length as the fraction policies take, from ``{name}_pct`` or ``{name}_steps``."""
    if (pct is None) == (steps is None):
        raise ValueError(f"give {name}_pct or {name}_steps (one of them); got {pct!r} and {steps!r}")
    if pct is not None:
        return pct
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 0 <= steps <= total_steps:
        raise ValueError(f"{name}_steps must be an integer in [0, total_steps={total_steps}]; got {steps!r}")
    return int(steps) / total_steps  # the table's own division: the phase ends exactly at that step


def _wsd_table(recipe: Mapping[str, Any], total_steps: int, n_groups: int) -> ScheduleTable:
    """The table a :meth:`TableScheduler.wsd` with these settings (its state's ``"wsd"``) has."""
    settings = dict(recipe)
    lr = np.asarray(settings.pop("lr_max"), dtype=float)
    pcts, dtype = (settings.pop("warmup_pct"), settings.pop("decay_pct")), settings.pop("dtype")
    scheds = schedcore.wsd(lr if lr.ndim else float(lr), *pcts, n_groups=n_groups, **settings)
    return schedcore.schedule_table(scheds, total_steps, dtype=dtype)


def _step_index(epoch: Any) -> int:
    return check_int(epoch, "epoch", min=0)


def _scalar_state(value: Any) -> Any:
    """A checkpoint's 0-d tensor (some savers wrap numbers) as its number; anything else as is."""
    return value.item() if isinstance(value, Tensor) and value.ndim == 0 and not value.is_floating_point() else value


def _as_table(source: Source, total_steps: int | None, dtype: Any = np.float64) -> ScheduleTable:
    """The full table for ``source``: evaluated for schedules, loaded and checked for files."""
    if isinstance(source, (str, os.PathLike)):
        table, what = schedcore.load_table(source), f"table file {os.fspath(source)!r}"
    elif isinstance(source, ScheduleTable):
        table, what = source, "the table"
    elif isinstance(source, (Schedule, Mapping)):
        if total_steps is None:
            raise ValueError("total_steps is required when scheduling from schedules")
        return schedcore.schedule_table(source, _positive_int(total_steps, "total_steps"), dtype=dtype)
    else:
        raise TypeError(
            f"source must be a dict of name -> Schedule, a Schedule, a ScheduleTable or a table "
            f"file path; got {type(source).__name__}"
        )
    if table.start != 0 or table.rows != table.n_steps:
        raise ValueError(
            f"{what} holds steps {table.start}..{table.start + table.rows - 1} of {table.n_steps}; "
            f"a scheduler needs every step from 0"
        )
    if total_steps is not None and _positive_int(total_steps, "total_steps") != table.n_steps:
        raise ValueError(f"{what} has {table.n_steps} steps but total_steps={total_steps!r}")
    return table
