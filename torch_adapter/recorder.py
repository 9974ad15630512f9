"""The Recorder: losses, learning rates, scheduled hyper-parameters and per-epoch metrics.

Smoothed loss (fastai's): ``v = beta*v + (1 - beta)*loss`` per training batch, reported as
``v / (1 - beta**count)`` (``beta = 0.98``), computed by :class:`schedcore.LossSmoother` (the rule
of :func:`schedcore.smooth_losses`: a NaN/inf loss is recorded as NaN and kept out of ``v``).

>>> from torch_adapter.testing import synth_learner
>>> learn = synth_learner()
>>> with learn.no_logging(): learn.fit(2)
>>> len(learn.recorder.lrs), learn.recorder.iters, [len(v) for v in learn.recorder.values]
(20, [10, 20], [2, 2])
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from schedcore import LossSmoother, save_curve
from schedcore.plot import pyplot

from .callback import Callback

__all__ = ["Recorder", "accuracy"]


def accuracy(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose arg-max class equals the target (a metric).

    >>> accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
    tensor(0.5000)
    """
    return (pred.argmax(dim=-1) == targ).float().mean()


def _name(metric: Callable) -> str:
    return getattr(metric, "__name__", type(metric).__name__)


def _batch_size(batch: tuple) -> int:
    for t in batch:
        if isinstance(t, torch.Tensor) and t.ndim:
            return t.shape[0]
    return 1


class Recorder(Callback):
    """Records ``lrs`` (last group's lr), smoothed ``losses``, ``iters``, ``values``, ``hps``.

    ``values`` holds one ``[train_loss, valid_loss, *metrics]`` per epoch (``train_loss`` is the
    smoothed loss at the epoch's end; the validation entries are missing when validation was
    skipped). ``hps`` is filled by the :class:`ParamScheduler`. Prints one table row per epoch
    through ``learn.logger``. A non-finite training loss is recorded as NaN in ``losses`` and kept
    out of the running average (so a skipped batch does not leave it NaN). During validation, ``valid_count`` (items seen) and ``valid_sums``
    (per-item sums of the loss and each metric) are the running totals that ``after_validate``
    averages; distributed training sums them over processes first.

    >>> Recorder().name, Recorder.order
    ('recorder', 50)
    """

    order = 50

    def __init__(self, beta: float = 0.98):
        self.beta = beta
        self.lrs, self.losses, self.iters, self.values, self.hps, self.final_record = [], [], [], [], {}, []
        self.lr_find_fig = None  # the last lr_find's plot
        #: ``reduce_totals(valid_count, valid_sums) -> (valid_count, valid_sums)``, a hook applied to
        #: the validation totals before they are averaged (None: this process's own). Distributed
        #: training sets it to a sum over the processes.
        self.reduce_totals: Callable[[int, list], tuple[int, list]] | None = None

    @property
    def metric_names(self) -> list[str]:
        """Column names of the printed table.

        >>> from torch_adapter.testing import synth_learner
        >>> synth_learner(metrics=[accuracy]).recorder.metric_names
        ['epoch', 'train_loss', 'valid_loss', 'accuracy', 'time']
        """
        return ["epoch", "train_loss", "valid_loss"] + [_name(m) for m in self.learn.metrics] + ["time"]

    def before_fit(self) -> None:
        self.lrs, self.losses, self.iters, self.values, self.hps = [], [], [], [], {}
        self.learn.smooth_loss = math.nan
        self._smooth = LossSmoother(self.beta).__call__  # bound once: called every training batch
        self.learn.logger(*(f"{n:<11}" for n in self.metric_names))

    def before_epoch(self) -> None:
        self._start, self._valid = time.perf_counter(), []

    def before_validate(self) -> None:
        self.valid_count, self.valid_sums, self._cancelled = 0, [0.0] * (1 + len(self.learn.metrics)), False

    def after_batch(self) -> None:
        learn = self.learn
        loss = learn.loss
        if loss is None:  # cancelled before the loss
            return
        if learn.training:
            read = learn.loss_read  # learn.loss_value(), inlined (every training batch): no call
            value = read[1] if read is not None and read[0] is loss else loss.item()
            smoothed = self._smooth(value)  # schedcore's rule: NaN in, NaN out, kept out
            if smoothed == smoothed:  # not NaN: the running average moved
                learn.smooth_loss = smoothed
            self.losses.append(smoothed)
            lr = learn.opt.param_groups[-1]["lr"]
            self.lrs.append(lr.detach().clone() if isinstance(lr, torch.Tensor) else lr)  # no GPU sync
        else:
            self._accumulate(learn)

    def _accumulate(self, learn) -> None:
        bs = _batch_size(learn.yb) if learn.yb else _batch_size(learn.xb)
        values = [learn.loss] + [m(learn.pred, *learn.yb) for m in learn.metrics]
        sums = self.valid_sums
        for j, v in enumerate(values):
            s = sums[j]
            if type(s) is float and isinstance(v, torch.Tensor) and v.is_cpu and v.numel() == 1:
                sums[j] = s + v.item() * bs  # on the CPU a read is free: a float sum, no tensor op
            elif isinstance(s, torch.Tensor) and isinstance(v, torch.Tensor):
                sums[j] = torch.add(s, v.detach(), alpha=bs)  # on a device: one op, no host sync
            else:
                sums[j] = s + torch.as_tensor(v).detach() * bs
        self.valid_count += bs

    def after_cancel_validate(self) -> None:
        self._cancelled = True

    def after_validate(self) -> None:
        if self.reduce_totals is not None:  # e.g. distributed: sum the totals over the ranks
            self.valid_count, self.valid_sums = self.reduce_totals(self.valid_count, self.valid_sums)
        if self._cancelled or self.valid_count == 0:
            self.final_record = []
        else:
            self.final_record = [float(s) / self.valid_count for s in self.valid_sums]
        self._valid = self.final_record

    def after_epoch(self) -> None:
        learn = self.learn
        self.values.append([learn.smooth_loss] + self._valid)
        self.iters.append(len(self.losses))
        self._log_row(learn.epoch, self.values[-1], time.perf_counter() - self._start)

    def _log_row(self, epoch: int, values: list[float], seconds: float) -> None:
        cells = [f"{epoch:<11}"] + [f"{v:<11.6f}" for v in values]
        cells += [f"{'':<11}"] * (len(self.metric_names) - 2 - len(values))
        self.learn.logger(*cells, f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}")

    def finally_fit(self) -> None:
        self.lrs = [float(lr) for lr in self.lrs]  # tensor learning rates become floats once

    # ------------------------------------------------------------------------------- plots
    def plot_loss(self, skip_start: int = 5, with_valid: bool = True, log: bool = False,
                  show_epochs: bool = False, ax=None):  # fmt: skip
        """Plot the smoothed training loss from step ``skip_start`` (and the validation loss at
        each epoch's end); return the matplotlib Axes, as fastai does.

        fastai's arguments: ``log`` for log-log axes, ``show_epochs`` for a dotted line at each
        epoch's end, ``ax`` to draw into (default: a new figure; fastai draws into ``plt.gca()``).

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner()
        >>> with learn.no_logging(): learn.fit(2)
        >>> ax = learn.recorder.plot_loss(show_epochs=True)
        >>> len(ax.lines), ax.get_xlabel()
        (4, 'steps')
        """
        if not self._is_main():
            return None  # distributed: rank 0 plots
        plt = pyplot()  # ImportError saying pip install "schedcore[plot]" without matplotlib

        if ax is None:
            _, ax = plt.subplots()
        steps = range(skip_start, len(self.losses))
        (ax.loglog if log else ax.plot)(steps, self.losses[skip_start:], label="train")
        if show_epochs:
            for x in self.iters:
                ax.axvline(x, color="grey", ls=":")
        ax.set(xlabel="steps", ylabel="loss", title="learning curve")
        if with_valid:
            valid = [(i, v[1]) for i, v in zip(self.iters, self.values, strict=True) if i >= skip_start and len(v) > 1]
            ax.plot([i for i, _ in valid], [v for _, v in valid], label="valid")
            ax.legend()
        return ax

    def plot_lr_find(self, skip_end: int = 5, return_fig: bool = True, suggestions=None, nms=None, **kwargs):
        """Plot the last ``lr_find`` curve (loss against lr, log x), with suggestion markers.

        fastai's arguments: ``suggestions`` are the ``(x, y)`` points and ``nms`` their names
        (or a ``{name: point}`` dict, or what :func:`schedcore.suggest_lrs` returns); the last
        ``skip_end`` points are not drawn. Returns the figure (fastai's returns ``None``; a bug),
        or ``None`` when ``return_fig`` is False. Extra keyword arguments go to
        :func:`schedcore.plot_lr_find` (``title``).

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner()
        >>> s = learn.lr_find(show_plot=False)
        >>> fig = learn.recorder.plot_lr_find(suggestions=[(s.valley, 1.0)], nms=["valley"])
        >>> len(fig.axes[0].lines), fig.axes[0].get_xscale()
        (2, 'log')
        """
        from schedcore import plot_lr_find

        if nms is not None and suggestions is not None:
            suggestions = dict(zip(nms, suggestions, strict=True))
        fig = plot_lr_find(self.lrs, self.losses, suggestions or None, skip_end=skip_end, **kwargs)
        return fig if return_fig else None

    def plot_sched(self, keys: list[str] | None = None, figsize=None):
        """Plot each scheduled hyper-parameter (``hps``) against the iteration; return the figure.

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner()
        >>> with learn.no_logging(): learn.fit_one_cycle(1)
        >>> [ax.get_ylabel() for ax in learn.recorder.plot_sched().axes]
        ['lr', 'mom']
        """
        if not self._is_main():
            return None  # distributed: rank 0 plots
        plt = pyplot()

        keys = list(self.hps) if keys is None else keys
        if not keys:
            raise ValueError("nothing to plot: no hyper-parameter was scheduled in the last fit")
        fig, axs = plt.subplots(1, len(keys), figsize=figsize or (6 * len(keys), 4), squeeze=False)
        for ax, key in zip(axs[0], keys, strict=True):
            ax.plot(np.arange(len(self.hps[key])), self.hps[key])
            ax.set(xlabel="iteration", ylabel=key)
        return fig

    def save_curve(self, path: str | os.PathLike, raw_losses=None, num_it: int | None = None,
                   settings: dict | None = None) -> Path:  # fmt: skip
        """Write the recorded ``lrs`` and smoothed ``losses`` with :func:`schedcore.save_curve`.

        The format (``.csv``, ``.json``, ``.npz``) follows the extension; ``raw_losses``,
        ``num_it`` and ``settings`` are stored alongside when given. Returns the path.

        >>> import tempfile, pathlib
        >>> from schedcore import load_curve
        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner()
        >>> with learn.no_logging(): learn.fit(1)
        >>> path = learn.recorder.save_curve(pathlib.Path(tempfile.mkdtemp()) / "curve.csv")
        >>> load_curve(path).losses.tolist() == learn.recorder.losses
        True
        """
        settings = {"beta": self.beta, **(settings or {})}

        def save_curve_() -> Path:
            return save_curve(path, self.lrs, self.losses, raw_losses, num_it=num_it, settings=settings)

        save_curve_.__name__ = "save_curve"  # named in an error another rank reports
        learn = getattr(self, "learn", None)
        return save_curve_() if learn is None else learn.run_on_main(save_curve_)

    def _is_main(self) -> bool:
        """The Learner's ``is_main`` (True without a Learner)."""
        return getattr(getattr(self, "learn", None), "is_main", True)
