"""The Learner: a model, its data, loss and optimizer, and a fit loop that fires events.

Everything beyond the loop itself (recording, scheduling, progress bars, the LR finder) is a
callback (see :mod:`torch_adapter.callback` for the events and their order).

>>> from torch_adapter.testing import synth_learner
>>> learn = synth_learner()
>>> with learn.no_logging(): learn.fit(1)
>>> len(learn.recorder.losses), learn.train_iter
(10, 10)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from schedcore._io import atomic_write

from .callback import (
    Callback,
    CancelBackwardException,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
)
from .lr_finder import lr_find
from .optim import adamw, set_hyper
from .progress import ProgressCallback, log
from .recorder import Recorder
from .schedule import fine_tune, fit_flat_cos, fit_one_cycle, fit_sgdr, fit_warmup_cosine, fit_wsd

__all__ = ["Learner", "NORM_TYPES", "noop"]

NORM_TYPES = (
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.LayerNorm,
    nn.GroupNorm,
)
_NONFINITE = ("stop", "skip", "continue")
#: the events fired inside ``_do_one_batch`` (checked for handlers only when some callback has one)
_IN_BATCH = frozenset({"after_pred", "after_loss", "before_backward", "after_backward", "before_step", "after_step"})
#: stage -> its (before, after_cancel, after) event names, made once (dispatch runs every step)
_STAGE_EVENTS = {s: (f"before_{s}", f"after_cancel_{s}", f"after_{s}") for s in ("fit", "epoch", "train", "validate", "batch", "backward", "step")}


def noop(*args, **kwargs) -> None:
    """Do nothing (the logger under :meth:`Learner.no_logging`).

    >>> noop("anything")
    """


def trainable_params(model: nn.Module) -> list[list[nn.Parameter]]:
    """The default splitter: one parameter group holding all of ``model``'s parameters.

    >>> len(trainable_params(nn.Linear(2, 1))[0])
    2
    """
    return [list(model.parameters())]


class Learner:
    """Train ``model`` on ``dls`` with ``loss_func`` and ``opt_func(param_groups, lr=lr)``.

    ``dls`` has ``train`` and ``valid`` iterables of batches ``(x, y)``; batches move to the
    model's device. ``splitter(model)`` returns the parameter groups (lists of parameters).
    ``on_nonfinite`` says what a NaN/inf training loss does, before its backward pass:
    ``"stop"`` (warn and stop the fit), ``"skip"`` (warn and skip the batch) or ``"continue"``
    (no check). The check reads the loss on the host once per training batch (on a GPU, one
    synchronisation); the Recorder and the LR finder reuse that read (``loss_read``). Default
    callbacks: :class:`Recorder`, :class:`ProgressCallback`. ``metrics`` is one function or a
    list of them. As in fastai, an attribute the learner lacks is read
    from the model (``learn.a`` is ``learn.model.a``; names starting with ``_`` excepted).

    >>> from torch_adapter.testing import synth_dbunch, RegModel
    >>> learn = Learner(synth_dbunch(), RegModel(), nn.MSELoss(), lr=1e-2)
    >>> with learn.no_logging(): learn.fit(2)
    >>> [round(x, 2) for x in learn.opt.param_groups[0]["betas"]]
    [0.9, 0.99]
    """

    def __init__(self, dls, model: nn.Module, loss_func: Callable, opt_func: Callable = adamw, lr=1e-3,
                 splitter: Callable = trainable_params, cbs=None, metrics=None, wd=None,
                 moms=(0.95, 0.85, 0.95), path=".", model_dir="models", train_bn: bool = True,
                 on_nonfinite: str = "stop"):  # fmt: skip
        if on_nonfinite not in _NONFINITE:
            raise ValueError(f"on_nonfinite must be one of {_NONFINITE}; got {on_nonfinite!r}")
        self.dls, self.model, self.loss_func, self.opt_func = dls, model, loss_func, opt_func
        self.lr, self.splitter, self.wd, self.moms, self.train_bn = lr, splitter, wd, moms, train_bn
        self.metrics = _as_list(metrics)
        self.path, self.model_dir, self.on_nonfinite = Path(path), model_dir, on_nonfinite
        self.opt, self.cbs, self.logger, self.training = None, [], log, True
        self._handlers: tuple[dict, dict, tuple[bool, bool]] | None = None  # built at the first event after a change
        self.step_fn: Callable[[], None] | None = None  # replaces opt.step when set (a compiled step)
        #: True in the process that writes files, plots and logs: always, except inside
        #: ``distrib_ctx`` on ranks other than 0. ``save``, ``lr_find`` and the Recorder's
        #: ``save_curve`` and plots consult it.
        self.is_main: bool = True
        #: ``share_main(fn) -> fn()'s result``, a hook through which ``save`` and
        #: ``Recorder.save_curve`` run their write (None: run it here). ``distrib_ctx`` sets it to
        #: "run on rank 0 only, every rank waits and gets rank 0's result (or fails)".
        self.share_main: Callable[[Callable[[], Any]], Any] | None = None
        #: ``barrier()``, a hook where ``lr_find`` waits for every process once rank 0 has written
        #: and plotted (None: no wait). ``distrib_ctx`` sets it to ``torch.distributed.barrier``.
        self.barrier: Callable[[], None] | None = None
        self.xb, self.yb, self.pred, self.loss, self.smooth_loss = (), (), None, None, math.nan
        #: ``(tensor, float)``: the last host read of a training loss, so that one read per step
        #: serves everyone (the NaN guard makes it; :meth:`loss_value`, which the Recorder and the
        #: LR finder use, reuses it while ``learn.loss is loss_read[0]``). None from
        #: the start of each batch (with ``loss``) until the read; the guard is off with
        #: ``on_nonfinite="continue"``.
        self.loss_read: tuple[torch.Tensor, float] | None = None
        self.epoch, self.n_epoch, self.iter, self.n_iter, self.train_iter, self.pct_train = 0, 1, 0, 0, 0, 0.0
        self.add_cbs([Recorder(), ProgressCallback()] + _as_list(cbs))

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: fall back to the model (fastai's rule).
        model = self.__dict__.get("model")
        if model is not None and not name.startswith("_"):
            try:
                return getattr(model, name)
            except AttributeError:
                pass
        raise AttributeError(f"'Learner' object has no attribute {name!r}" + (
            "" if model is None or name.startswith("_") else f" (nor has its model, a {type(model).__name__})"
        ))  # fmt: skip

    # ------------------------------------------------------------------------------ fit loop
    def fit(
        self, n_epoch: int, lr=None, wd=None, cbs=None, reset_opt: bool = False, start_epoch: int = 0
    ) -> None:
        """Train for ``n_epoch`` epochs (from ``start_epoch`` when resuming).

        ``lr``/``wd`` (scalar, per-group list or ``slice``) are set in the optimizer first;
        callbacks in ``cbs`` take part in this fit only (removed after it, also on errors).
        As in fastai, ``fit(0)`` and ``start_epoch == n_epoch`` train nothing: the fit's events
        (``before_fit``, ``after_fit``) fire, no epoch runs.

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner()
        >>> with learn.no_logging(): learn.fit(2, lr=1e-2)
        >>> learn.epoch, learn.train_iter, learn.opt.param_groups[0]["lr"]
        (1, 20, 0.01)
        """
        self._check_fit(n_epoch, start_epoch)
        with self.added_cbs(cbs):
            if reset_opt or self.opt is None:
                self.create_opt()
            if wd is not None or self.wd is not None:
                set_hyper(self.opt, "wd", self.wd if wd is None else wd)
            set_hyper(self.opt, "lr", self.lr if lr is None else lr)
            self.n_epoch, self.start_epoch, self.device = int(n_epoch), int(start_epoch), self._model_device()
            self.n_inp = getattr(self.dls, "n_inp", 1)
            self.n_iter, self.train_iter = 0, self.start_epoch * len(self.dls.train)
            self._handlers = None  # indexed afresh for each fit: a callback's handlers() may depend on it
            try:
                self._with_events(self._do_fit, "fit", CancelFitException)
            finally:
                self._finally_fit()

    def _do_fit(self) -> None:
        for epoch in range(self.start_epoch, self.n_epoch):
            self.epoch = epoch
            self._with_events(self._do_epoch, "epoch", CancelEpochException)

    def _do_epoch(self) -> None:
        self.dl, self.training, self.pct_train = self.dls.train, True, self.epoch / self.n_epoch
        self.model.train()
        self._with_events(self._all_batches, "train", CancelTrainException)
        self._do_validate(self.dls.valid)

    def _do_validate(self, dl) -> None:
        self.dl, self.training = dl, False
        self.model.eval()
        with torch.no_grad():
            self._with_events(self._all_batches, "validate", CancelValidException)

    def _all_batches(self) -> None:
        dl = self.dl
        self.n_iter = len(dl) if dl is not None else 0
        step = 1.0 / (self.n_iter * self.n_epoch) if self.n_iter else 0.0
        dev, n_inp, one_batch = self.device, self.n_inp, self._do_one_batch  # read once: the hot path
        on_cpu = dev.type == "cpu"  # then ``not b.is_cpu`` is the (cheaper) test for "elsewhere"
        own_split = "_split" in vars(self) or type(self)._split is not Learner._split  # a replaced _split is called
        own_call = type(self).__call__ is not Learner.__call__  # a subclass's own dispatch sees every event
        for i, batch in enumerate(dl if dl is not None else ()):
            self.iter = i
            if own_split:
                self._split(batch)
            else:  # Learner._split, inlined: this runs every step
                for b in batch:
                    if isinstance(b, torch.Tensor) and (not b.is_cpu if on_cpu else b.device != dev):
                        batch = self._to_device(batch)
                        break
                self.xb, self.yb, self.loss, self.loss_read = tuple(batch[:n_inp]), tuple(batch[n_inp:]), None, None
            try:
                if own_call:
                    self("before_batch")
                else:  # self("before_batch"), inlined (as after_batch below): this runs every step
                    for handler in (self._handlers or self._index_handlers())[self.training].get("before_batch", ()):
                        handler()
                one_batch()
            except CancelBatchException:
                self("after_cancel_batch")
            if self.training:
                self.train_iter += 1
                self.pct_train += step
            if own_call:
                self("after_batch")
            else:
                for handler in (self._handlers or self._index_handlers())[self.training].get("after_batch", ()):
                    handler()

    def _do_one_batch(self) -> None:
        # Events that usually have no handler are fired only when one exists. ``quiet``: no
        # callback handles any of them in this mode (read once, after before_batch), so none is
        # checked; otherwise ``self._handlers`` is read again at each (it is None after a callback
        # is added or removed, and then ``self`` rebuilds it) and ``self(event)`` runs when one
        # listens. A callback added inside the batch by a handler is seen at the next event.
        quiet = (h := self._handlers) is not None and h[2][self.training]
        self.pred = self.model(*self.xb)
        if not quiet and ((h := self._handlers) is None or "after_pred" in h[self.training]):
            self("after_pred")
        self.loss = self.loss_func(self.pred, *self.yb)
        if not quiet and ((h := self._handlers) is None or "after_loss" in h[self.training]):
            self("after_loss")
        if not self.training:
            return
        if self.on_nonfinite != "continue":  # the NaN guard: one host read, shared (loss_read)
            loss = self.loss
            self.loss_read = (loss, value := loss.item())
            if not math.isfinite(value):
                self._nonfinite()
        try:  # _with_events(self._backward, "backward", ...), inlined: this runs every step
            if not quiet and ((h := self._handlers) is None or "before_backward" in h[self.training]):
                self("before_backward")
            self._backward()
        except CancelBackwardException:
            self("after_cancel_backward")
        if not quiet and ((h := self._handlers) is None or "after_backward" in h[self.training]):
            self("after_backward")
        try:
            if not quiet and ((h := self._handlers) is None or "before_step" in h[self.training]):
                self("before_step")
            (self.step_fn or self.opt.step)()
        except CancelStepException:
            self("after_cancel_step")
        if not quiet and ((h := self._handlers) is None or "after_step" in h[self.training]):
            self("after_step")
        self.opt.zero_grad()

    def _backward(self) -> None:
        self.loss.backward()

    def _with_events(self, f: Callable, stage: str, cancel: type[Exception]) -> None:
        before, cancelled, after = _STAGE_EVENTS[stage]
        try:
            self(before)
            f()
        except cancel:
            self(cancelled)
        self(after)

    def __call__(self, event: str) -> None:
        """Fire ``event``: call every callback's handler for it, in ``order``.

        >>> from torch_adapter.testing import synth_learner
        >>> synth_learner()("before_epoch")
        """
        for handler in (self._handlers or self._index_handlers())[self.training].get(event, ()):
            handler()

    def _finally_fit(self) -> None:
        """Fire ``finally_fit`` on every callback even when one raises (so that, e.g., the LR finder
        restores the model whatever an earlier callback does); then re-raise the first error,
        with the later ones noted on it."""
        errors: list[BaseException] = []
        for handler in (self._handlers or self._index_handlers())[self.training].get("finally_fit", ()):
            try:
                handler()
            except BaseException as e:  # noqa: BLE001 - every cleanup runs; the first error is re-raised below
                errors.append(e)
        if errors:
            for later in errors[1:]:
                errors[0].add_note(f"also raised in finally_fit: {type(later).__name__}: {later}")
            raise errors[0]

    def _split(self, batch) -> None:
        """``xb, yb = batch[:n_inp], batch[n_inp:]``, moved to the model's device (the batch loop
        does the same inline)."""
        dev = self.device
        for b in batch:
            if isinstance(b, torch.Tensor) and b.device != dev:
                batch = self._to_device(batch)
                break
        n_inp = self.n_inp
        self.xb, self.yb, self.loss, self.loss_read = tuple(batch[:n_inp]), tuple(batch[n_inp:]), None, None

    def _to_device(self, batch) -> list:
        dev = self.device
        return [b.to(dev, non_blocking=True) if isinstance(b, torch.Tensor) else b for b in batch]

    def loss_value(self) -> float:
        """``learn.loss`` as a Python float, read from its device at most once per loss tensor:
        the NaN guard's read (``loss_read``) while it is of this loss, else a new read, kept.

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner(); learn.loss = torch.tensor(2.5)
        >>> learn.loss_value(), learn.loss_read[1]
        (2.5, 2.5)
        """
        loss, read = self.loss, self.loss_read
        if read is None or read[0] is not loss:
            read = self.loss_read = (loss, loss.item())
        return read[1]

    def _nonfinite(self) -> None:
        """A NaN/inf training loss: warn and stop (or skip the batch) before its backward pass."""
        action = "stopping the fit" if self.on_nonfinite == "stop" else "skipping the batch"
        warnings.warn(
            f"non-finite training loss {self.loss.item()} at epoch {self.epoch}, batch {self.iter}: {action} "
            "before its backward pass (Learner(on_nonfinite=...) to change this)",
            stacklevel=2,
        )
        raise CancelFitException() if self.on_nonfinite == "stop" else CancelBatchException()

    def _check_fit(self, n_epoch, start_epoch) -> None:
        if isinstance(n_epoch, bool) or not isinstance(n_epoch, int) or n_epoch < 0:
            raise ValueError(f"n_epoch must be an integer >= 0; got {n_epoch!r}")
        if isinstance(start_epoch, bool) or not isinstance(start_epoch, int) or not 0 <= start_epoch <= n_epoch:
            raise ValueError(f"start_epoch must be an integer in [0, n_epoch={n_epoch}]; got {start_epoch!r}")
        if start_epoch == n_epoch:
            return  # nothing to train: the data is not needed
        try:
            n = len(self.dls.train)
        except TypeError:
            raise TypeError(f"the training data must have a length; got {self.dls.train!r}") from None
        if n == 0:
            raise ValueError(f"the training data is empty: {self.dls.train!r} has no batches")

    def _model_device(self) -> torch.device:
        p = next(self.model.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    # ----------------------------------------------------------------------------- optimizer
    def create_opt(self) -> None:
        """Create ``self.opt`` from the splitter's groups (checked: no overlaps, nothing missing).

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner(); learn.create_opt(); type(learn.opt).__name__
        'SGD'
        """
        groups = self._param_groups()
        self.opt = self.opt_func([{"params": g} for g in groups], lr=self.lr)
        if self.wd is not None:
            set_hyper(self.opt, "wd", self.wd)

    def _param_groups(self) -> list[list[nn.Parameter]]:
        groups = [list(g) for g in self.splitter(self.model)]
        names = {id(p): n for n, p in self.model.named_parameters()}
        seen: dict[int, int] = {}
        for i, group in enumerate(groups):
            for p in group:
                if id(p) in seen:
                    raise ValueError(
                        f"splitter: parameter {names.get(id(p), '<not in model>')!r} is in groups {seen[id(p)]} and {i}"
                    )
                seen[id(p)] = i
        missing = [n for i, n in names.items() if i not in seen]
        if missing:
            raise ValueError(f"splitter: parameters {missing} of the model are in no group")
        return groups

    def freeze_to(self, n: int) -> None:
        """Freeze parameter groups ``[:n]`` (normalisation layers stay trainable if ``train_bn``).

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner(); learn.freeze_to(1)
        >>> [p.requires_grad for p in learn.model.parameters()]
        [False, False]
        """
        if self.opt is None:
            self.create_opt()
        norm = {id(p) for m in self.model.modules() if isinstance(m, NORM_TYPES) for p in m.parameters()}
        groups = self.opt.param_groups
        frozen = set(range(len(groups))[:n])
        for i, g in enumerate(groups):
            for p in g["params"]:
                p.requires_grad_(i not in frozen or (self.train_bn and id(p) in norm))

    def freeze(self) -> None:
        """Freeze every parameter group but the last (``freeze_to(-1)``).

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner(); learn.freeze(); learn.model.a.requires_grad
        True
        """
        self.freeze_to(-1)

    def unfreeze(self) -> None:
        """Make every parameter group trainable (``freeze_to(0)``).

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner(); learn.freeze_to(1); learn.unfreeze(); learn.model.b.requires_grad
        True
        """
        self.freeze_to(0)

    # ----------------------------------------------------------------------------- callbacks
    def add_cbs(self, cbs) -> Learner:
        """Add callbacks (instances or classes); see :meth:`add_cb`. Returns ``self``.

        >>> from torch_adapter.testing import synth_learner
        >>> synth_learner().add_cbs([Callback]).callback
        Callback()
        """
        for cb in _as_list(cbs):
            self.add_cb(cb)
        return self

    def add_cb(self, cb: Callback | type) -> Learner:
        """Add a callback (an instance, or a class to instantiate); it becomes ``self.<cb.name>``.

        Returns ``self`` (chainable, as in fastai). ``cbs`` keeps the order callbacks were added
        in; events run them sorted by ``order`` (stable).

        >>> from torch_adapter.testing import synth_learner
        >>> class TimerCallback(Callback): pass
        >>> learn = synth_learner().add_cb(TimerCallback()); learn.timer
        TimerCallback()
        """
        cb = cb() if isinstance(cb, type) else cb
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback instances or classes; got {cb!r}")
        own = self.__dict__.get(cb.name, getattr(type(self), cb.name, None))  # the model's don't count
        if not isinstance(own, (Callback, type(None))):
            raise ValueError(f"callback name {cb.name!r} clashes with a Learner attribute")
        cb.learn = self
        setattr(self, cb.name, cb)
        self.cbs.append(cb)
        self._handlers = None  # indexed again at the next event
        return self

    def remove_cbs(self, cbs) -> Learner:
        """Remove callbacks (instances, or classes: every callback of that class); returns ``self``.

        >>> from torch_adapter.testing import synth_learner
        >>> synth_learner().remove_cbs([ProgressCallback]).cbs
        [Recorder()]
        """
        for cb in _as_list(cbs):
            self.remove_cb(cb)
        return self

    def remove_cb(self, cb: Callback | type) -> Learner:
        """Remove one callback instance, or every callback of a class; returns ``self``.

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner(); learn.remove_cb(learn.recorder) is learn
        True
        >>> hasattr(learn, "recorder")
        False
        """
        gone = [c for c in self.cbs if (isinstance(c, cb) if isinstance(cb, type) else c is cb)]
        for c in gone:
            self.cbs.remove(c)
            if self.__dict__.get(c.name) is c:
                delattr(self, c.name)
            c.learn = None
        self._handlers = None  # indexed again at the next event
        return self

    @contextmanager
    def added_cbs(self, cbs) -> Iterator[Learner]:
        """Context manager: add ``cbs`` for the duration of the block (removed also on errors).

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner()
        >>> with learn.added_cbs(Callback()): len(learn.cbs)
        3
        >>> len(learn.cbs)
        2
        """
        cbs = [cb() if isinstance(cb, type) else cb for cb in _as_list(cbs)]
        self.add_cbs(cbs)
        try:
            yield self
        finally:
            self.remove_cbs(cbs)

    @contextmanager
    def removed_cbs(self, cbs) -> Iterator[Learner]:
        """Context manager: remove ``cbs`` for the duration of the block, then put them back.

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner()
        >>> with learn.removed_cbs(learn.progress): learn.cbs
        [Recorder()]
        >>> learn.cbs
        [Recorder(), ProgressCallback()]
        """
        cbs = _as_list(cbs)
        self.remove_cbs(cbs)
        try:
            yield self
        finally:
            self.add_cbs(cbs)

    def _index_handlers(self) -> tuple[dict, dict, tuple[bool, bool]]:
        """Per mode (validation, training), the ordered handlers of each event: cheap dispatch.
        Built lazily (adding or removing callbacks only clears it), so a fit that adds its
        scheduler and removes it after indexes once."""
        by_mode: tuple[dict, dict] = ({}, {})
        for training in (False, True):
            for cb in sorted(self.cbs, key=lambda c: c.order):
                for event, handler in cb.handlers(training).items():
                    by_mode[training].setdefault(event, []).append(handler)
        # third: per mode, True when no callback handles an event inside _do_one_batch
        quiet = tuple(not (_IN_BATCH & h.keys()) for h in by_mode)
        self._handlers = (*by_mode, quiet)
        return self._handlers

    @contextmanager
    def no_bar(self) -> Iterator[Learner]:
        """Context manager: no progress bar inside the block (the printed table stays).

        The :class:`ProgressCallback` is taken out for the block and put back after it.

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner()
        >>> with learn.no_bar(): hasattr(learn, "progress")
        False
        >>> learn.progress
        ProgressCallback()
        """
        bars = [cb for cb in self.cbs if isinstance(cb, ProgressCallback)]
        with self.removed_cbs(bars):
            yield self

    @contextmanager
    def no_logging(self) -> Iterator[Learner]:
        """Context manager: no printed table and no progress bar inside the block.

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner()
        >>> with learn.no_logging(): learn.fit(1)  # prints nothing
        """
        old, self.logger = self.logger, noop
        try:
            yield self
        finally:
            self.logger = old

    # --------------------------------------------------------------------------- validate, io
    def distrib_ctx(self, *args, **kwargs):
        """:func:`torch_adapter.distributed.distrib_ctx` for this Learner (DDP inside the block).

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner()
        >>> with learn.distrib_ctx() as l: l is learn
        True
        """
        from .distributed import distrib_ctx

        return distrib_ctx(self, *args, **kwargs)

    def validate(self, dl=None) -> list[float]:
        """Run validation on ``dl`` (default ``dls.valid``); return ``[valid_loss, *metrics]``.

        >>> from torch_adapter.testing import synth_learner
        >>> len(synth_learner().validate())
        1
        """
        self.device, self.n_inp = self._model_device(), getattr(self.dls, "n_inp", 1)
        with self.no_logging():
            self._do_validate(self.dls.valid if dl is None else dl)
        return self.recorder.final_record

    def _file(self, name: str | Path) -> Path:
        return self.path / self.model_dir / f"{name}.pth"

    def save(self, name: str | Path, with_opt: bool = True) -> Path:
        """Save the model (and optimizer state) to ``path/model_dir/name.pth``, atomically.

        >>> import tempfile
        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner(path=tempfile.mkdtemp())
        >>> learn.save("start").name
        'start.pth'
        """
        def save() -> Path:
            state = {"model": self.model.state_dict()}
            if with_opt and self.opt is not None:
                state["opt"] = self.opt.state_dict()
            return atomic_write(self._file(name), lambda f: torch.save(state, f), mode="wb")

        return self.run_on_main(save)

    def run_on_main(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` through the :attr:`share_main` hook: here when it is None (not distributed);
        inside ``distrib_ctx`` on rank 0 only, every rank returning rank 0's result.

        >>> from torch_adapter.testing import synth_learner
        >>> synth_learner().run_on_main(lambda: 42)
        42
        """
        return fn() if self.share_main is None else self.share_main(fn)

    def load(self, name: str | Path, device=None, with_opt: bool = True, strict: bool = True) -> Learner:
        """Load what :meth:`save` wrote (onto ``device``, default the model's); returns ``self``.

        As in fastai, the optimizer is created first if there is none, so that ``learn.opt`` is
        usable afterwards also with ``with_opt=False`` (it then keeps its fresh state).

        >>> import tempfile
        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner(path=tempfile.mkdtemp()); learn.create_opt(); _ = learn.save("m")
        >>> other = synth_learner(path=learn.path).load("m")
        >>> torch.equal(other.model.a, learn.model.a)
        True
        """
        file = self._file(name)
        if not file.exists():
            raise FileNotFoundError(f"{file}: no saved model {name!r}")
        state = torch.load(file, map_location=device or self._model_device(), weights_only=True)
        self.model.load_state_dict(state["model"], strict=strict)
        if self.opt is None:
            self.create_opt()
        if with_opt and "opt" in state:
            self.opt.load_state_dict(state["opt"])
        elif with_opt:
            warnings.warn(f"{file} holds no optimizer state; only the model was loaded", stacklevel=2)
        return self

    def __repr__(self) -> str:
        return f"Learner(model={type(self.model).__name__}, cbs={self.cbs})"

    fit_one_cycle = fit_one_cycle
    fit_flat_cos = fit_flat_cos
    fit_sgdr = fit_sgdr
    fine_tune = fine_tune
    fit_warmup_cosine = fit_warmup_cosine
    fit_wsd = fit_wsd
    lr_find = lr_find


def _as_list(x) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]
