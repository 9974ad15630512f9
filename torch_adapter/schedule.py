"""ParamScheduler and the fit policies, on schedule tables precomputed by schedcore.

At ``before_fit`` the scheduler asks schedcore for the whole fit's table (one vectorised call
per schedule); at each training batch it writes row ``k = epoch*n_iter + iter`` (position
``k / (n_epoch*n_iter)``, i.e. ``pct_train``) into the optimizer. The table lives on the host
as Python floats, so applying a row never synchronises with a GPU. The fit policies are a
few lines over :mod:`schedcore.policies`; no schedule maths lives here.

>>> from schedcore import SchedLin
>>> from torch_adapter.testing import synth_learner
>>> learn = synth_learner()
>>> with learn.no_logging(): learn.fit(1, cbs=ParamScheduler({"lr": SchedLin(0.0, 1.0)}))
>>> [round(v, 2) for v in learn.recorder.hps["lr"][:3]]
[0.0, 0.1, 0.2]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from schedcore import Schedule, flat_cos, one_cycle, schedule_table, sgdr, warmup_cosine, wsd

from .callback import Callback
from .optim import has_hyper, hyper_setter

__all__ = [
    "ParamScheduler",
    "fit_one_cycle",
    "fit_flat_cos",
    "fit_sgdr",
    "fine_tune",
    "fit_warmup_cosine",
    "fit_wsd",
]


class ParamScheduler(Callback):
    """Schedule hyper-parameters (``{"lr": Schedule, "mom": ...}``) over a fit.

    A value may also be a list of schedules, one per parameter group. ``table`` holds the fit's
    values (one row per training step from the first step of this fit); ``hps`` the values
    applied (last parameter group's), which are also copied to ``learn.recorder.hps``.

    >>> from schedcore import one_cycle
    >>> ParamScheduler(one_cycle(1e-2)).name
    'param_scheduler'
    """

    order = 60
    run_valid = False

    def __init__(self, scheds: Mapping[str, Schedule | Sequence[Schedule]]):
        if not isinstance(scheds, Mapping) or not scheds:
            raise ValueError(f"scheds must be a non-empty dict of name -> Schedule; got {scheds!r}")
        self.scheds, self.table, self.hps = dict(scheds), None, {}

    def n_steps(self) -> int:
        """Training steps in the whole fit (the table's ``N``): ``n_epoch * len(dls.train)``."""
        return self.learn.n_epoch * len(self.learn.dls.train)

    def step(self) -> int:
        """The table row of the current training batch."""
        return self.learn.epoch * self.learn.n_iter + self.learn.iter

    def first_step(self) -> int:
        """The step of this fit's first training batch (non-zero when resuming)."""
        return self.learn.start_epoch * len(self.learn.dls.train)

    def before_fit(self) -> None:
        learn = self.learn
        start = self.first_step()
        n_steps = self.n_steps() or 1  # fit(0) trains no step: a one-row table, never applied
        self.table = _table(self.scheds, n_steps, start, len(learn.opt.param_groups))
        self._start, self._applied = start, []
        self._setters = [(hyper_setter(learn.opt, n), col.tolist()) for n, col in self.table.items()]

    def before_batch(self) -> None:
        i = self.step() - self._start
        for setter, column in self._setters:
            setter(column[i])
        self._applied.append(i)

    def after_fit(self) -> None:
        rows = np.asarray(self._applied, dtype=np.int64)
        self.hps = {n: (col if col.ndim == 1 else col[:, -1])[rows].tolist() for n, col in self.table.items()}
        recorder = getattr(self.learn, "recorder", None)
        if recorder is not None:
            recorder.hps = self.hps


def _table(scheds: dict, n_steps: int, start: int, n_groups: int) -> dict[str, np.ndarray]:
    """Columns ``(rows,)`` or ``(rows, n_groups)``: one vectorised schedcore call per schedule."""
    single = {n: s for n, s in scheds.items() if not isinstance(s, (list, tuple))}
    table = dict(schedule_table(single, n_steps, start=start)) if single else {}
    for name, group_scheds in scheds.items():
        if name not in single:
            if len(group_scheds) != n_groups:
                raise ValueError(f"{name}: {len(group_scheds)} schedules for {n_groups} parameter groups")
            cols = [schedule_table(s, n_steps, start=start)["lr"] for s in group_scheds]
            table[name] = np.stack(cols, axis=1)
    for name, col in table.items():
        if col.ndim == 2 and col.shape[1] != n_groups:
            raise ValueError(
                f"{name}: schedule has {col.shape[1]} per-group values for {n_groups} parameter groups"
            )
    return {n: table[n] for n in scheds}


# ----------------------------------------------------------------------------- fit policies
def _n_groups(learn) -> int:
    if learn.opt is None:
        learn.create_opt()
    return len(learn.opt.param_groups)


def _fit(learn, n_epoch: int, scheds: dict, cbs=None, **fit_kwargs) -> None:
    extra = list(cbs) if isinstance(cbs, (list, tuple)) else ([] if cbs is None else [cbs])
    learn.fit(n_epoch, cbs=[ParamScheduler(scheds)] + extra, **fit_kwargs)


def fit_one_cycle(self, n_epoch: int, lr_max=None, div: float = 25.0, div_final: float = 1e5,
                  pct_start: float = 0.25, wd=None, moms=None, cbs=None, reset_opt: bool = False,
                  start_epoch: int = 0) -> None:  # fmt: skip
    """Fit with the 1cycle policy (:func:`schedcore.one_cycle`); ``lr_max`` defaults to ``learn.lr``.

    Momentum follows ``moms`` (default ``learn.moms``) when the optimizer has one.

    >>> from torch_adapter.testing import synth_learner
    >>> learn = synth_learner()
    >>> with learn.no_logging(): learn.fit_one_cycle(1, lr_max=1e-2)
    >>> lrs = learn.recorder.hps["lr"]  # 10 steps: lr_max/div at step 0, the highest at step 3 (pos 0.3)
    >>> round(lrs[0], 6), round(max(lrs), 6), sorted(learn.recorder.hps)
    (0.0004, 0.009891, ['lr', 'mom'])
    """
    n_groups = _n_groups(self)
    moms = (moms or self.moms) if has_hyper(self.opt, "mom") else None
    lr_max = self.lr if lr_max is None else lr_max
    scheds = one_cycle(lr_max, div, div_final, pct_start, moms, n_groups=n_groups)
    _fit(self, n_epoch, scheds, cbs, wd=wd, reset_opt=reset_opt, start_epoch=start_epoch)


def fit_flat_cos(self, n_epoch: int, lr=None, div_final: float = 1e5, pct_start: float = 0.75, wd=None,
                 cbs=None, reset_opt: bool = False, start_epoch: int = 0) -> None:  # fmt: skip
    """Fit at a flat ``lr`` then anneal it by cosine (:func:`schedcore.flat_cos`).

    >>> from torch_adapter.testing import synth_learner
    >>> learn = synth_learner()
    >>> with learn.no_logging(): learn.fit_flat_cos(1, lr=1e-2)
    >>> learn.recorder.hps["lr"][0]
    0.01
    """
    scheds = flat_cos(self.lr if lr is None else lr, div_final, pct_start, n_groups=_n_groups(self))
    _fit(self, n_epoch, scheds, cbs, wd=wd, reset_opt=reset_opt, start_epoch=start_epoch)


def fit_sgdr(self, n_cycles: int, cycle_len: int, lr_max=None, cycle_mult: int = 2, cbs=None,
             reset_opt: bool = False, wd=None, start_epoch: int = 0) -> None:  # fmt: skip
    """Fit ``n_cycles`` cosine cycles of ``cycle_len * cycle_mult**i`` epochs (:func:`schedcore.sgdr`).

    >>> from torch_adapter.testing import synth_learner
    >>> learn = synth_learner()
    >>> with learn.no_logging(): learn.fit_sgdr(2, 1)
    >>> learn.n_epoch
    3
    """
    lr_max = self.lr if lr_max is None else lr_max
    scheds, n_epoch = sgdr(n_cycles, cycle_len, lr_max, cycle_mult, n_groups=_n_groups(self))
    if n_epoch != int(n_epoch):
        raise ValueError(f"fit_sgdr needs a whole number of epochs; cycles add up to {n_epoch}")
    _fit(self, int(n_epoch), scheds, cbs, wd=wd, reset_opt=reset_opt, start_epoch=start_epoch)


def fine_tune(self, epochs: int, base_lr: float = 2e-3, freeze_epochs: int = 1, lr_mult: float = 100,
              pct_start: float = 0.3, div: float = 5.0, **kwargs) -> None:  # fmt: skip
    """Train the last group frozen-in for ``freeze_epochs``, then everything with discriminative lrs.

    fastai's recipe: freeze; one-cycle at ``slice(base_lr)`` with ``pct_start=0.99``; halve
    ``base_lr``; unfreeze; one-cycle at ``slice(base_lr/lr_mult, base_lr)``.

    >>> from torch_adapter.testing import synth_learner
    >>> learn = synth_learner()
    >>> with learn.no_logging(): learn.fine_tune(1)
    >>> learn.n_epoch
    1
    """
    self.freeze()
    self.fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99, **kwargs)
    base_lr /= 2
    self.unfreeze()
    self.fit_one_cycle(epochs, slice(base_lr / lr_mult, base_lr), pct_start=pct_start, div=div, **kwargs)


def fit_warmup_cosine(self, n_epoch: int, lr_max=None, warmup_pct: float = 0.1, min_lr: float = 0.0,
                      warmup_start: float = 0.0, wd=None, cbs=None, reset_opt: bool = False,
                      start_epoch: int = 0) -> None:  # fmt: skip
    """Fit with linear warmup then cosine decay (:func:`schedcore.warmup_cosine`).

    >>> from torch_adapter.testing import synth_learner
    >>> learn = synth_learner()
    >>> with learn.no_logging(): learn.fit_warmup_cosine(1, lr_max=1e-2, warmup_pct=0.2)
    >>> [round(v, 4) for v in learn.recorder.hps["lr"][:3]]
    [0.0, 0.005, 0.01]
    """
    lr_max = self.lr if lr_max is None else lr_max
    scheds = warmup_cosine(lr_max, warmup_pct, min_lr, warmup_start, n_groups=_n_groups(self))
    _fit(self, n_epoch, scheds, cbs, wd=wd, reset_opt=reset_opt, start_epoch=start_epoch)


def fit_wsd(self, n_epoch: int, lr_max=None, warmup_pct: float = 0.1, decay_pct: float = 0.2,
            min_lr: float = 0.0, decay: str = "cos", warmup_start: float = 0.0, wd=None, cbs=None,
            reset_opt: bool = False, start_epoch: int = 0) -> None:  # fmt: skip
    """Fit with warmup, a stable plateau, then a decay (:func:`schedcore.wsd`).

    >>> from torch_adapter.testing import synth_learner
    >>> learn = synth_learner()
    >>> with learn.no_logging(): learn.fit_wsd(1, lr_max=1e-2, warmup_pct=0.2, decay_pct=0.2)
    >>> [round(v, 4) for v in learn.recorder.hps["lr"][2:6]]
    [0.01, 0.01, 0.01, 0.01]
    """
    lr_max = self.lr if lr_max is None else lr_max
    scheds = wsd(lr_max, warmup_pct, decay_pct, min_lr, decay, warmup_start, n_groups=_n_groups(self))
    _fit(self, n_epoch, scheds, cbs, wd=wd, reset_opt=reset_opt, start_epoch=start_epoch)
