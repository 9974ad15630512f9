"""The LR range test: ``LRFinder`` (a callback) and ``Learner.lr_find``, which never damage the model.

The finder trains with learning rates growing from ``start_lr`` to ``end_lr`` over ``num_it``
batches (schedcore's :func:`~schedcore.lr_range` table), records the smoothed losses, and stops
early on divergence. Before the first batch it snapshots, in memory, the model's parameters and
buffers (non-persistent ones too), the optimizer's state and hyper-parameters, the torch RNG
states, the gradients and the train/eval modes; it restores all of them when the fit ends --
normally, by divergence, or by an exception or a KeyboardInterrupt, also when another callback's
cleanup raises (the Learner fires ``finally_fit`` on every callback) and when a second Ctrl-C
arrives during the restore (deferred until it is complete, then raised). No file is written, so
parallel runs cannot clobber each other.

>>> from torch_adapter.testing import synth_learner
>>> learn = synth_learner()
>>> a = learn.model.a.detach().clone()
>>> with learn.no_logging(): learn.fit(20, cbs=LRFinder(num_it=50))
>>> len(learn.recorder.lrs) <= 50, torch.equal(learn.model.a, a)
(True, True)
"""

from __future__ import annotations

import copy
import functools
import math
import os
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from schedcore import diverged, lr_range, minimum, save_curve, slide, steep, suggest_lrs, valley
from schedcore.suggest import SuggestedLRs

from .callback import CancelBatchException, CancelFitException, CancelValidException
from .optim import get_hyper, has_hyper
from .schedule import ParamScheduler

__all__ = ["LRFinder", "lr_find", "TrainingState", "diverged"]  # diverged: schedcore's rule, re-exported

_CURVE_EXTS = (".csv", ".json", ".npz")


class TrainingState:
    """In-memory copy of what training changes: weights, buffers, optimizer, RNG, grads, modes.

    Every buffer is kept, also the non-persistent ones that ``state_dict()`` leaves out.
    :meth:`restore` puts everything back and cannot be left half done by a Ctrl-C: a
    KeyboardInterrupt arriving meanwhile is deferred and raised once the restore is complete.

    >>> from torch_adapter.testing import synth_learner
    >>> learn = synth_learner(); learn.create_opt()
    >>> state = TrainingState(learn.model, learn.opt)
    >>> with learn.no_logging(): learn.fit(1)
    >>> state.restore(); torch.equal(learn.model.a, state.model["a"])
    True
    """

    def __init__(self, model: torch.nn.Module, opt: torch.optim.Optimizer):
        self.model_ref, self.opt_ref = model, opt
        self.model = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.buffers = {k: v.detach().clone() for k, v in model.named_buffers()}  # non-persistent ones too
        self.opt = copy.deepcopy(opt.state_dict())
        self.grads = [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]
        self.modes = [m.training for m in model.modules()]
        self.cpu_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None

    def restore(self) -> None:
        """Put everything back (in place: parameters and buffers stay the same tensor objects).

        A KeyboardInterrupt (Ctrl-C) during the restore does not stop it: the SIGINT handler is
        deferred meanwhile (main thread), one raised anyway makes the restore start over (it is
        idempotent), and the interrupt is raised when everything is back.
        """
        interrupt: BaseException | None = None
        with _sigint_deferred() as deferred:
            for _ in range(3):
                try:
                    self._restore()
                    break
                except KeyboardInterrupt as e:
                    interrupt = interrupt or e
        if interrupt is not None:
            raise interrupt
        deferred.deliver()

    def _restore(self) -> None:
        model, opt = self.model_ref, self.opt_ref
        with torch.no_grad():
            model.load_state_dict(self.model)
            for name, saved in self.buffers.items():
                _put_buffer(model, name, saved)
        opt.load_state_dict(copy.deepcopy(self.opt))
        for p, g in zip(model.parameters(), self.grads, strict=True):
            p.grad = None if g is None else g.clone()
        for m, mode in zip(model.modules(), self.modes, strict=True):
            m.training = mode
        torch.set_rng_state(self.cpu_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)


def _put_buffer(model: torch.nn.Module, name: str, saved: torch.Tensor) -> None:
    """Copy ``saved`` into buffer ``name`` in place, or put a copy back if it was replaced by another shape."""
    owner, _, attr = name.rpartition(".")
    module = model.get_submodule(owner)
    now = getattr(module, attr, None)
    if isinstance(now, torch.Tensor) and now.shape == saved.shape and now.dtype == saved.dtype:
        now.copy_(saved)
    else:
        setattr(module, attr, saved.clone())


class _Deferred:
    """What :func:`_sigint_deferred` saw: whether a SIGINT came, and the handler to hand it to."""

    def __init__(self):
        self.received, self.handler = False, None

    def deliver(self) -> None:
        """Hand a deferred SIGINT on: a KeyboardInterrupt for Python's default handler."""
        if not self.received:
            return
        self.received = False
        if self.handler is signal.default_int_handler:
            raise KeyboardInterrupt
        if self.handler not in (signal.SIG_IGN, None):
            signal.raise_signal(signal.SIGINT)  # the user's own handler (or the default action) gets it


@contextmanager
def _sigint_deferred() -> Iterator[_Deferred]:
    """Within the block a SIGINT is noted, not acted on (main thread only: others never get signals)."""
    state = _Deferred()
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield state  # no Python-level handler to stand in for (set from C): leave it alone
        return

    def note(signum, frame):
        state.received = True

    state.handler = signal.signal(signal.SIGINT, note)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, state.handler)


class LRFinder(ParamScheduler):
    """LR range test: ``lr = start_lr*(end_lr/start_lr)**(train_iter/num_it)`` (or linear).

    Skips validation; stops after ``num_it`` training batches (across epochs) or, with
    ``stop_div``, when the smoothed loss diverges (:func:`schedcore.diverged`) or a raw loss is NaN/inf.
    ``start_lr``/``end_lr`` may be per-group arrays. Snapshot at ``before_fit``, restore at
    ``finally_fit`` (see :class:`TrainingState`). ``raw_losses`` holds the unsmoothed losses.
    With ``stop_div=False`` a NaN/inf loss is left to the Learner's ``on_nonfinite`` policy.

    >>> LRFinder(num_it=5)
    Traceback (most recent call last):
    ...
    ValueError: num_it must be an integer >= 6; got 5
    """

    def __init__(self, start_lr=1e-7, end_lr=10, num_it: int = 100, stop_div: bool = True, mode: str = "exp"):
        if isinstance(num_it, bool) or not isinstance(num_it, (int, np.integer)) or num_it < 6:
            raise ValueError(f"num_it must be an integer >= 6; got {num_it!r}")
        super().__init__(lr_range(start_lr, end_lr, mode), n_steps=int(num_it))
        self.start_lr, self.end_lr, self.num_it, self.stop_div, self.mode = (
            start_lr,
            end_lr,
            int(num_it),
            stop_div,
            mode,
        )
        self.state, self.raw_losses = None, []

    def before_fit(self) -> None:
        learn = self.learn
        if getattr(learn, "recorder", None) is None:
            raise ValueError("LRFinder needs the Learner's Recorder (it reads the smoothed loss)")
        self.state = TrainingState(learn.model, learn.opt)
        super().before_fit()
        self._first_iter, self.raw_losses, self._diverged = learn.train_iter, [], False
        self.best_loss = self.first_loss = math.nan

    def after_loss(self) -> None:
        if not self.learn.training:
            return
        if self.stop_div and not math.isfinite(self.learn.loss_value()):
            self._diverged = True  # record the batch, skip its backward pass, then stop
            raise CancelBatchException()

    def after_batch(self) -> None:
        if not self.learn.training:
            return
        if self.learn.loss is not None:  # read after the backward pass: distributed, the mean over ranks
            self.raw_losses.append(self.learn.loss_value())
        loss = self.learn.smooth_loss
        if math.isfinite(loss):
            self.first_loss = loss if math.isnan(self.first_loss) else self.first_loss
            self.best_loss = loss if not self.best_loss <= loss else self.best_loss
        if self.stop_div and (self._diverged or diverged(loss, self.best_loss, self.first_loss)):
            raise CancelFitException()
        if self.learn.train_iter - self._first_iter >= self.num_it:
            raise CancelFitException()

    def before_validate(self) -> None:
        raise CancelValidException()

    def finally_fit(self) -> None:
        state, self.state = self.state, None
        if state is not None:
            state.restore()


def lr_find(self, start_lr=1e-7, end_lr=10, num_it: int = 100, stop_div: bool = True, show_plot: bool = True,
            suggest_funcs: Callable | Sequence[Callable] | None = (valley,),
            save_to: str | os.PathLike | None = None, mode: str = "exp") -> SuggestedLRs | None:  # fmt: skip
    """Run the LR range test, restore the model, and suggest learning rates (a ``Learner`` method).

    Returns schedcore's ``SuggestedLRs`` (one field per function of ``suggest_funcs``, computed
    by :func:`schedcore.suggest_lrs` on the recorded curve); a method that cannot use the curve
    gives ``nan`` and a warning. ``show_plot`` draws :func:`schedcore.plot_lr_find` (the figure is
    kept as ``learn.recorder.lr_find_fig``); ``save_to`` writes the curve (lrs, smoothed and raw
    losses, num_it) as ``.csv``/``.json``/``.npz`` for ``schedcore suggest FILE``.

    As in fastai: ``suggest_funcs`` is one function (``suggest_funcs=valley``), a tuple of them,
    or ``None`` (nothing is suggested and ``lr_find`` returns ``None``); ``num_it`` below 6 is
    raised to 6, the finder's minimum (:class:`LRFinder` itself refuses it). schedcore's own
    suggesters get numpy arrays; any other suggester gets what fastai gives it, ``lrs`` and
    ``losses`` as torch tensors of the default dtype (so ``lrs[1:].log()`` works), and ``num_it``.
    Only the main process (``learn.is_main``) plots and writes ``save_to``; then every process
    waits at the ``learn.barrier`` hook (set by ``distrib_ctx``).

    >>> from schedcore import minimum, steep
    >>> from torch_adapter.testing import synth_learner
    >>> learn = synth_learner()
    >>> s = learn.lr_find(show_plot=False, suggest_funcs=(minimum, steep))
    >>> s._fields
    ('minimum', 'steep')
    >>> learn.lr_find(show_plot=False, suggest_funcs=None) is None
    True
    """
    if not self.is_main:  # distributed, rank other than 0: train, but rank 0 writes and plots
        show_plot, save_to = False, None
    if save_to is not None and Path(save_to).suffix.lower() not in _CURVE_EXTS:
        raise ValueError(f"save_to={str(save_to)!r}: the curve file must end in one of {_CURVE_EXTS}")
    funcs = _suggesters(suggest_funcs)
    if isinstance(num_it, (int, np.integer)) and not isinstance(num_it, bool) and num_it < 6:
        num_it = 6  # fastai's rule; LRFinder's own check still catches non-integers
    if self.opt is None:
        self.create_opt()
    finder = LRFinder(start_lr, end_lr, num_it, stop_div, mode)
    keep = {"lr": get_hyper(self.opt, "lr")}  # so that fit() changes no hyper-parameter before the snapshot
    if has_hyper(self.opt, "wd"):
        keep["wd"] = get_hyper(self.opt, "wd")
    try:
        with self.no_logging():
            self.fit(math.ceil(num_it / len(self.dls.train)), cbs=finder, **keep)
    finally:
        finder.finally_fit()  # a no-op when the fit's own finally_fit restored (it always should)
    rec = self.recorder
    suggestions = None if funcs is None else _suggest(rec.lrs, rec.losses, num_it, funcs)
    if save_to is not None:
        settings = {"start_lr": _jsonable(start_lr), "end_lr": _jsonable(end_lr), "mode": mode, "stop_div": stop_div,
                    "beta": rec.beta, "methods": [] if suggestions is None else list(suggestions[0]._fields)}  # fmt: skip
        save_curve(save_to, rec.lrs, rec.losses, finder.raw_losses[: len(rec.losses)], num_it, settings)
    if show_plot:
        rec.lr_find_fig = _plot(rec.lrs, rec.losses, suggestions)
    if self.barrier is not None:  # distributed: every rank waits for rank 0's file and plot
        self.barrier()
    return None if suggestions is None else suggestions[0]


_SCHEDCORE_SUGGESTERS = (valley, slide, minimum, steep)


def _suggesters(suggest_funcs) -> tuple[Callable, ...] | None:
    """``suggest_funcs`` as a tuple (None stays None); user suggesters wrapped to get tensors."""
    if suggest_funcs is None:
        return None
    funcs = (suggest_funcs,) if callable(suggest_funcs) else suggest_funcs
    if not isinstance(funcs, Sequence) or not all(callable(f) for f in funcs):
        raise TypeError(f"suggest_funcs must be a function, a sequence of functions or None; got {suggest_funcs!r}")
    return tuple(_with_tensors(f) for f in funcs)


def _with_tensors(func: Callable) -> Callable:
    """A user's suggester called as fastai calls it: ``func(lrs, losses, num_it)`` on torch tensors."""
    inner = func.func if isinstance(func, functools.partial) else func
    if any(inner is f for f in _SCHEDCORE_SUGGESTERS):
        return func  # numpy, batched

    def call(lrs, losses, num_it):
        dtype = torch.get_default_dtype()
        return func(torch.as_tensor(lrs, dtype=dtype), torch.as_tensor(losses, dtype=dtype), num_it)

    call.__name__ = getattr(inner, "__name__", type(inner).__name__)  # the SuggestedLRs field
    return call


def _suggest(lrs: list, losses: list, num_it: int, funcs: Sequence[Callable]):
    """``suggest_lrs`` that never raises: a failure gives nan for every method, with a warning."""
    try:
        return suggest_lrs(lrs, losses, num_it, funcs, return_points=True)
    except Exception as e:  # the training part is done: report, do not lose it
        warnings.warn(
            f"lr_find: could not suggest from the curve ({type(e).__name__}: {e}); giving nan", stacklevel=3
        )
        names = [
            getattr(f, "__name__", getattr(getattr(f, "func", None), "__name__", f"func{i}"))
            for i, f in enumerate(funcs)
        ]
        nans = [math.nan] * len(names)
        return SuggestedLRs.make(names, nans), SuggestedLRs.make(names, [(math.nan, math.nan)] * len(names))


def _plot(lrs, losses, suggestions):
    from schedcore.plot import plot_lr_find

    try:
        return plot_lr_find(lrs, losses, suggestions)
    except Exception as e:
        warnings.warn(f"lr_find: could not plot the curve ({type(e).__name__}: {e})", stacklevel=3)
        return None


def _jsonable(x):
    return np.asarray(x, dtype=float).tolist()
