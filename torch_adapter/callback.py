"""Callbacks: the base class, the event names, and the cancel exceptions.

A callback is an object with methods named after the events it handles (``before_fit``,
``after_batch``, ...); each is called with no arguments and reads or changes the Learner
through ``self.learn``. As in fastai, a callback also reads the learner's attributes as its
own (``self.epoch``, ``self.loss``, ``self.model``): see :class:`Callback`. Callbacks run
sorted by ``order`` (stable). Raising a ``Cancel<Stage>Exception`` skips the rest of that
stage and fires ``after_cancel_<stage>``, then ``after_<stage>`` as usual.

>>> class CountBatches(Callback):
...     def before_fit(self): self.n = 0
...     def after_batch(self): self.n += 1
>>> CountBatches().name
'count_batches'
"""

from __future__ import annotations

import functools
import re

__all__ = [
    "Callback",
    "EVENTS",
    "BATCH_EVENTS",
    "CancelBatchException",
    "CancelBackwardException",
    "CancelStepException",
    "CancelTrainException",
    "CancelValidException",
    "CancelEpochException",
    "CancelFitException",
]


class CancelBatchException(Exception):
    """Skip the rest of this batch; fires ``after_cancel_batch`` then ``after_batch``."""


class CancelBackwardException(Exception):
    """Skip the backward pass; fires ``after_cancel_backward`` then ``after_backward``."""


class CancelStepException(Exception):
    """Skip the optimizer step; fires ``after_cancel_step`` then ``after_step``."""


class CancelTrainException(Exception):
    """Skip the rest of the training phase; fires ``after_cancel_train`` then ``after_train``."""


class CancelValidException(Exception):
    """Skip the rest of validation; fires ``after_cancel_validate`` then ``after_validate``."""


class CancelEpochException(Exception):
    """Skip the rest of this epoch; fires ``after_cancel_epoch`` then ``after_epoch``."""


class CancelFitException(Exception):
    """Stop training; fires ``after_cancel_fit`` then ``after_fit``."""


_STAGES = ("fit", "epoch", "train", "validate", "batch", "backward", "step")
#: Every event a callback may handle. ``finally_fit`` is ours, not fastai's: it fires last in
#: every fit, also when the fit raises (an error, a KeyboardInterrupt), for restoring state; it
#: reaches every callback even when an earlier one raises in it (the first error is re-raised).
EVENTS = tuple(f"{w}_{s}" for s in _STAGES for w in ("before", "after", "after_cancel")) + (
    "after_pred",
    "after_loss",
    "finally_fit",
)
#: Events of the inner loop: a callback with ``run_train``/``run_valid`` False skips them.
BATCH_EVENTS = frozenset(
    "before_batch after_pred after_loss before_backward after_backward after_cancel_backward "
    "before_step after_step after_cancel_step after_batch after_cancel_batch".split()
)


@functools.lru_cache(maxsize=1024)
def _snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


class Callback:
    """Base class for callbacks.

    ``order`` sorts callbacks (lower first); ``run_train``/``run_valid`` set to False skip the
    inner-loop events (:data:`BATCH_EVENTS`) in training or validation. ``name`` is the
    snake-case class name without a ``Callback`` suffix: the Learner attribute it is reachable as.

    **Attribute rule (fastai's).** Reading an attribute the callback does not have reads the
    learner's: inside a handler ``self.model``, ``self.opt``, ``self.epoch``, ``self.loss``,
    ``self.pct_train``, ``self.xb``... are ``self.learn.model``, ... (and, through the learner,
    the model's attributes). Assigning ``self.x = ...`` always sets the *callback's* own
    attribute; write ``self.learn.x = ...`` to change the learner. Names starting with ``_`` are
    never forwarded (fastai forwards all but dunder names). This read-forwarding is the one place
    where we use ``__getattr__``: fastai's callback contract requires it.

    >>> class ProgressCallback(Callback): pass
    >>> ProgressCallback().name, Callback().name
    ('progress', 'callback')
    >>> from torch_adapter.testing import synth_learner
    >>> learn = synth_learner()
    >>> cb = learn.recorder
    >>> cb.n_epoch is learn.n_epoch, cb.model is learn.model
    (True, True)
    """

    order: int = 0
    run_train: bool = True
    run_valid: bool = True
    learn = None

    @property
    def name(self) -> str:
        """Attribute name on the Learner (``ParamScheduler`` -> ``param_scheduler``)."""
        cls = type(self).__name__
        return _snake(cls[: -len("Callback")] if cls.endswith("Callback") and cls != "Callback" else cls)

    def handlers(self, training: bool) -> dict:
        """``{event: bound method}`` for the events this callback handles in this mode.

        The learner asks at the start of each fit and after a callback is added or removed,
        and calls exactly these handlers until it asks again.

        >>> class C(Callback):
        ...     run_valid = False
        ...     def after_batch(self): pass
        ...     def after_fit(self): pass
        >>> sorted(C().handlers(True)), sorted(C().handlers(False))
        (['after_batch', 'after_fit'], ['after_fit'])
        """
        runs = self.run_train if training else self.run_valid
        own = vars(self)
        # the callback's own handlers only: never one forwarded from the learner
        return {
            e: getattr(self, e)
            for e in EVENTS
            if callable(own.get(e, getattr(type(self), e, None))) and (runs or e not in BATCH_EVENTS)
        }

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: fall back to the learner (fastai's rule).
        learn = self.learn
        if learn is not None and not name.startswith("_"):
            try:
                return getattr(learn, name)
            except AttributeError:
                pass
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
            + ("" if learn is None or name.startswith("_") else " (nor has its learner)")
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
