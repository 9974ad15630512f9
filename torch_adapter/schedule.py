"""ParamScheduler and the fit policies, on schedule tables precomputed by schedcore.

At ``before_fit`` the scheduler asks schedcore for the whole fit's table (one vectorised call
per schedule); at each training batch it writes step ``k = train_iter = epoch*n_iter + iter``
(position ``k / (n_epoch*n_iter)``, i.e. ``pct_train``) into the optimizer through the one
:class:`~torch_adapter.optim.TableWriter`. The table is a numpy array on the host, so applying a
row never synchronises with a GPU. The fit policies are a few lines over
:mod:`schedcore.policies`; no schedule maths lives here.

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
from .optim import TableWriter, has_hyper

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

    A value may also be a list of schedules, one per parameter group. At ``before_fit`` the
    fit's table comes from :func:`schedcore.schedule_table` (a numpy array per name, ``dtype``
    float64 or float32) and goes to a :class:`~torch_adapter.optim.TableWriter` (``writer``),
    which checks it once and writes row ``k`` at each training batch. By default the table
    spans the whole fit (``n_epoch * len(dls.train)`` steps; row ``k`` is ``learn.train_iter``,
    so a resumed fit continues where it left off); ``n_steps`` makes it span that many training
    batches from the fit's first instead (the LR range test). ``table`` holds the values (one
    row per step from this fit's first), ``hps`` the values applied (last parameter group's),
    also copied to ``learn.recorder.hps``.

    >>> from schedcore import one_cycle
    >>> ParamScheduler(one_cycle(1e-2)).name
    'param_scheduler'
    """

    order = 60
    run_valid = False

    def __init__(self, scheds: Mapping[str, Schedule | Sequence[Schedule]], n_steps: int | None = None,
                 dtype=np.float64):  # fmt: skip
        if not isinstance(scheds, Mapping) or not scheds:
            raise ValueError(f"scheds must be a non-empty dict of name -> Schedule; got {scheds!r}")
        if n_steps is not None and (isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer))
                                    or n_steps < 1):  # fmt: skip
            raise ValueError(f"n_steps must be None or an integer >= 1; got {n_steps!r}")
        self.scheds, self.span, self.dtype = dict(scheds), n_steps, dtype
        self.table, self.writer, self.hps = None, None, {}

    def before_fit(self) -> None:
        learn = self.learn
        self._first = learn.train_iter  # the fit's first batch is the table's first row
        if self.span is None:  # the whole fit: steps start .. n_epoch * n_iter - 1
            n_steps, start = learn.n_epoch * len(learn.dls.train), learn.train_iter
            n_steps = max(n_steps, 1)  # fit(0) trains no step: a one-row table, never applied
        else:  # a span of this fit's batches, from its first
            n_steps, start = self.span, 0
        self.table = schedule_table(self.scheds, n_steps, start=start, dtype=self.dtype)
        self.writer = TableWriter(learn.opt, self.table)
        self._applied = []

    def before_batch(self) -> None:
        i = self.learn.train_iter - self._first
        try:
            self.writer.write(i)
        except IndexError:
            rows = self.writer.rows
            if 0 <= i < rows:
                raise
            raise IndexError(
                f"training batch {i} of this fit has no row in the schedule table ({rows} rows, built at "
                "before_fit for n_epoch * len(dls.train) batches, or n_steps): more batches ran than that "
                "(does the training DataLoader yield more batches than its len()?)"
            ) from None
        self._applied.append(i)

    def table_fingerprint(self) -> str | None:
        """The fit's table fingerprint (None before the first fit): equal tables, equal strings."""
        return None if self.writer is None else self.writer.fingerprint(self.table.n_steps)

    def after_fit(self) -> None:
        rows = np.asarray(self._applied, dtype=np.int64)
        self.hps = {n: (col if col.ndim == 1 else col[:, -1])[rows].tolist() for n, col in self.table.items()}
        recorder = getattr(self.learn, "recorder", None)
        if recorder is not None:
            recorder.hps = self.hps


def whole_number(value: float, what: str) -> int:
    """``value`` as an int; ``ValueError`` naming ``what`` when it is not whole (SGDR's epochs, steps).

    >>> whole_number(7.0, "epochs")
    7
    >>> whole_number(3.5, "epochs")
    Traceback (most recent call last):
    ...
    ValueError: epochs must be a whole number; got 3.5
    """
    if value != int(value):
        raise ValueError(f"{what} must be a whole number; got {value!r}")
    return int(value)


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
    n_epoch = whole_number(n_epoch, "fit_sgdr's number of epochs (the cycles' total)")
    _fit(self, n_epoch, scheds, cbs, wd=wd, reset_opt=reset_opt, start_epoch=start_epoch)


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
