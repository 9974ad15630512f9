"""Compiled training steps: ``torch.compile`` on the optimizer step (and the model), one graph per fit.

torch compiles a function for the values it reads: a Python float becomes a constant of the
graph, so a scheduler that writes a new float every step (torch's ``OneCycleLR`` writes ``lr``
and Adam's ``betas``) recompiles the optimizer step again and again, up to dynamo's limit
(8), after which it runs eagerly. Three rules give **one graph for the optimizer step over a
whole fit**, for every schedule:

1. ``lr``, and Adam/AdamW's ``betas``, are 0-d tensors (:func:`compile_ready`), which the one
   table writer (:class:`~torch_adapter.optim.TableWriter`) fills in place every step: the
   graph reads them as inputs.
2. Hyper-parameters that torch's optimizers only take as floats (SGD's and RMSprop's
   ``momentum``, RMSprop's ``alpha``: their code branches on them) stay floats, and such a step
   is compiled with ``dynamic=True``: they are symbolic inputs from the first graph on (Adam and
   AdamW, whose scheduled values are all tensors, compile static graphs).
3. The first step after the optimizer's state is created or loaded runs eagerly (it creates
   the state: SGD's momentum buffer is ``None`` before, a different code path).

In the Learner, add :class:`CompileStep` (``learn.fit_one_cycle(3, cbs=CompileStep())``; with
``model=True`` the model is compiled too, in place). In a plain loop, call a
:class:`CompiledStep` where ``opt.step()`` was, with a :class:`~torch_adapter.TableScheduler`
stepping as usual.

>>> import torch, schedcore
>>> from torch_adapter import TableScheduler
>>> p = torch.zeros(2, requires_grad=True)
>>> opt = torch.optim.AdamW([p], lr=1e-3)
>>> step = CompiledStep(opt, backend="eager")
>>> sched = TableScheduler(opt, schedcore.one_cycle(1e-2), total_steps=3)
>>> for _ in range(3):
...     (p - 1).pow(2).sum().backward(); step(); sched.step(); opt.zero_grad()
>>> type(opt.param_groups[0]["lr"]).__name__, round(float(opt.param_groups[0]["betas"][0]), 4)
('Tensor', 0.9087)
"""

from __future__ import annotations

from typing import Any

import torch

from .callback import Callback
from .optim import tensor_hypers

__all__ = ["CompileStep", "CompiledStep", "compile_ready"]


def compile_ready(opt: torch.optim.Optimizer, device=None) -> torch.optim.Optimizer:
    """Make the hyper-parameters a compiled step should read as tensors into 0-d tensors, in place.

    ``lr`` always; ``betas`` when the optimizer has them (Adam, AdamW). Others stay floats
    (see the module's rule 2). Returns ``opt``. Floats are rounded to float32 on the way.

    >>> opt = compile_ready(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9))
    >>> opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]
    (tensor(0.1000), 0.9)
    """
    names = ("lr", "mom", "sqr_mom") if "betas" in opt.param_groups[0] else ("lr",)
    return tensor_hypers(opt, names, device=device)


class CompiledStep:
    """``step()``: ``opt.step()`` through ``torch.compile`` (one graph for a whole run).

    Calls :func:`compile_ready` on ``opt``; ``compile_kwargs`` go to ``torch.compile``
    (``backend``, ``mode``, ...; ``dynamic`` defaults to True when the optimizer has float-only
    ``momentum``/``alpha``, see the module's rules, else False). The
    first call after the optimizer's state was created or replaced (``load_state_dict``) runs
    eagerly. Dynamo caches compiled code per function and allows 8 variants (its recompile
    limit): build one ``CompiledStep`` per optimizer, not one per step.
    """

    def __init__(self, opt: torch.optim.Optimizer, **compile_kwargs: Any):
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(f"opt must be a torch.optim.Optimizer; got {type(opt).__name__}")
        # dynamic only where float hyper-parameters change (SGD/RMSprop momentum, RMSprop alpha):
        # static graphs are faster, and tensors (lr, betas) need no dynamic shapes
        compile_kwargs.setdefault("dynamic", any(k in opt.param_groups[0] for k in ("momentum", "alpha")))
        self.opt = compile_ready(opt)
        self._state = None  # the optimizer state the last eager step saw
        self._compiled = torch.compile(self._step, **compile_kwargs)

    def _step(self) -> None:
        self.opt.step()

    def __call__(self) -> None:
        if self.opt.state is not self._state:  # a new or loaded state: create it eagerly
            self.opt.step()
            self._state = self.opt.state
        else:
            self._compiled()


class CompileStep(Callback):
    """Train with a compiled optimizer step (and, with ``model=True``, a compiled model).

    Sets ``learn.step_fn`` to a :class:`CompiledStep` for each fit (one per optimizer object,
    kept across fits) and clears it when the fit ends. ``model=True`` calls
    ``learn.model.compile(**compile_kwargs)`` once (in place: ``state_dict`` keys unchanged).

    >>> from torch_adapter.testing import synth_learner
    >>> learn = synth_learner()
    >>> with learn.no_logging(): learn.fit_one_cycle(1, cbs=CompileStep(backend="eager"))
    >>> type(learn.opt.param_groups[0]["lr"]).__name__, learn.step_fn is None
    ('Tensor', True)
    """

    order = -10  # before the schedulers write their first row

    def __init__(self, model: bool = False, **compile_kwargs: Any):
        self.model, self.compile_kwargs = model, compile_kwargs
        self.step, self._model_compiled = None, None

    def before_fit(self) -> None:
        learn = self.learn
        if learn.opt is None:
            learn.create_opt()
        if self.step is None or self.step.opt is not learn.opt:
            self.step = CompiledStep(learn.opt, **self.compile_kwargs)
        else:
            compile_ready(learn.opt)  # a loaded state_dict may have brought floats back
        if self.model and self._model_compiled is not learn.model:
            kwargs = {k: v for k, v in self.compile_kwargs.items() if k != "dynamic"}
            learn.model.compile(**kwargs)
            self._model_compiled = learn.model
        learn.step_fn = self.step

    def finally_fit(self) -> None:
        self.learn.step_fn = None
