"""Progress bars (tqdm) over epochs and batches, and the default logger.

The bars are on when logging is on and stderr is a terminal; off under
:meth:`Learner.no_logging <torch_adapter.learner.Learner.no_logging>`. Per batch they cost one
``tqdm.update`` call, and only while they are shown.

>>> ProgressCallback().name
'progress'
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

from .callback import Callback

__all__ = ["ProgressCallback", "log"]


def log(*items) -> None:
    """The default logger: print a line without breaking the progress bars.

    >>> log("epoch", 0)
    epoch 0
    """
    tqdm.write(" ".join(str(i) for i in items), file=sys.stdout)


class ProgressCallback(Callback):
    """An epoch bar and a batch bar. ``enabled=None`` means: when stderr is a TTY.

    >>> ProgressCallback(enabled=False).enabled, ProgressCallback.order
    (False, 60)
    """

    order = 60

    def __init__(self, enabled: bool | None = None):
        self.enabled, self.bar, self.epoch_bar = enabled, None, None

    def _shown(self) -> bool:
        from .learner import noop

        enabled = sys.stderr.isatty() if self.enabled is None else self.enabled
        return enabled and self.learn.logger is not noop

    def handlers(self, training: bool) -> dict:
        """As :meth:`Callback.handlers`, less the per-batch update when no bar will be shown
        (under ``no_logging``, or stderr not a terminal): then the batch loop calls nothing here.

        >>> from torch_adapter.testing import synth_learner
        >>> learn = synth_learner()
        >>> with learn.no_logging(): "after_batch" in learn.progress.handlers(True)
        False
        """
        handlers = super().handlers(training)
        own = type(self).after_batch is ProgressCallback.after_batch and "after_batch" not in vars(self)
        if own and self.learn is not None and self.bar is None and self.epoch_bar is None and not self._shown():
            handlers.pop("after_batch", None)  # (a subclass's own after_batch is always called)
        return handlers

    def before_fit(self) -> None:
        if self._shown():
            learn = self.learn
            self.epoch_bar = tqdm(total=learn.n_epoch, initial=learn.start_epoch, desc="epoch", leave=False)

    def before_train(self) -> None:
        self._start("train")

    def before_validate(self) -> None:
        self._start("valid")

    def _start(self, desc: str) -> None:
        if self.epoch_bar is not None and self.learn.n_iter is not None:
            self.bar = tqdm(total=len(self.learn.dl or ()), desc=desc, leave=False)

    def after_batch(self) -> None:
        if self.bar is not None:
            self.bar.update()

    def after_train(self) -> None:
        self._close_bar()

    def after_validate(self) -> None:
        self._close_bar()

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def after_epoch(self) -> None:
        if self.epoch_bar is not None:
            self.epoch_bar.update()

    def finally_fit(self) -> None:
        self._close_bar()
        if self.epoch_bar is not None:
            self.epoch_bar.close()
            self.epoch_bar = None
