"""fastai-style optimizer factories: ``opt_func=SGD`` / ``Adam`` / ``RMSProp`` build torch optimizers.

Each takes fastai's argument names and defaults (``mom``, ``sqr_mom``, ``eps``, ``wd``,
``decouple_wd``) and returns a plain ``torch.optim`` optimizer whose hyper-parameters the
Learner schedules by the uniform names (:mod:`torch_adapter.optim`). Two fastai behaviours that
torch's SGD and RMSprop lack are kept by small subclasses that only adjust ``param_groups``
around torch's own ``step``:

* ``decouple_wd=True`` (fastai's default): weight decay shrinks the weights, ``p *= 1 - lr*wd``,
  before the step, instead of adding ``wd*p`` to the gradient (L2, ``decouple_wd=False``).
* built with ``mom=0`` (fastai's default for SGD and RMSProp), the optimizer never uses
  momentum, even when ``fit_one_cycle`` schedules ``mom``: fastai then keeps no gradient average.

``Adam`` is ``torch.optim.AdamW`` (decoupled) or ``torch.optim.Adam`` (L2), which compute
fastai's Adam update. See docs/fastai_compat.md for the remaining differences.

>>> import torch
>>> p = [torch.zeros(2, requires_grad=True)]
>>> type(Adam(p, lr=1e-2)).__name__, Adam(p, lr=1e-2).param_groups[0]["betas"]
('AdamW', (0.9, 0.99))
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["SGD", "Adam", "RMSProp"]


class _FastaiStep:
    """Mixin for torch SGD/RMSprop: fastai's decoupled weight decay, and no momentum when built
    with ``mom=0`` (the scheduled value is kept in ``param_groups`` and recorded, not applied)."""

    def _setup(self, decouple_wd: bool, use_mom: bool) -> None:
        self.decouple_wd, self.use_mom = decouple_wd, use_mom

    @torch.no_grad()
    def step(self, closure=None):
        groups = self.param_groups
        wds = [g["weight_decay"] for g in groups]
        for g, wd in zip(groups, wds, strict=True):
            if not self.use_mom:
                g["momentum"] = 0.0
            if self.decouple_wd and wd:
                grads = [p for p in g["params"] if p.grad is not None]
                if grads:
                    torch._foreach_mul_(grads, 1 - g["lr"] * wd)
                g["weight_decay"] = 0.0
        try:
            return super().step(closure)
        finally:
            for g, wd in zip(groups, wds, strict=True):
                g["weight_decay"] = wd


class FastaiSGD(_FastaiStep, torch.optim.SGD):
    """``torch.optim.SGD`` with fastai's weight decay and momentum rules (see the module doc)."""


class FastaiRMSprop(_FastaiStep, torch.optim.RMSprop):
    """``torch.optim.RMSprop`` with fastai's weight decay and momentum rules (see the module doc)."""


def SGD(params: Iterable, lr: float = 1e-3, mom: float = 0.0, wd: float = 0.0,
        decouple_wd: bool = True) -> torch.optim.SGD:  # fmt: skip
    """fastai's ``SGD``: ``torch.optim.SGD`` (momentum ``mom``) with fastai's weight decay.

    >>> opt = SGD([torch.zeros(1, requires_grad=True)], lr=0.1, mom=0.9, wd=0.01)
    >>> g = opt.param_groups[0]; g["lr"], g["momentum"], g["weight_decay"]
    (0.1, 0.9, 0.01)
    """
    opt = FastaiSGD(params, lr=lr, momentum=mom, weight_decay=wd)
    opt._setup(decouple_wd, use_mom=mom != 0)
    return opt


def RMSProp(params: Iterable, lr: float = 1e-3, mom: float = 0.0, sqr_mom: float = 0.99, eps: float = 1e-8,
            wd: float = 0.0, decouple_wd: bool = True) -> torch.optim.RMSprop:  # fmt: skip
    """fastai's ``RMSProp``: ``torch.optim.RMSprop`` (``alpha=sqr_mom``) with fastai's weight decay.

    >>> opt = RMSProp([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> g = opt.param_groups[0]; g["alpha"], g["eps"], g["momentum"]
    (0.99, 1e-08, 0.0)
    """
    opt = FastaiRMSprop(params, lr=lr, alpha=sqr_mom, eps=eps, momentum=mom, weight_decay=wd)
    opt._setup(decouple_wd, use_mom=mom != 0)
    return opt


def Adam(params: Iterable, lr: float = 1e-3, mom: float = 0.9, sqr_mom: float = 0.99, eps: float = 1e-5,
         wd: float = 0.01, decouple_wd: bool = True) -> torch.optim.Adam:  # fmt: skip
    """fastai's ``Adam``: ``torch.optim.AdamW`` (``decouple_wd=True``) or ``torch.optim.Adam`` (L2).

    >>> opt = Adam([torch.zeros(1, requires_grad=True)], lr=0.1, decouple_wd=False)
    >>> type(opt).__name__, opt.param_groups[0]["eps"], opt.param_groups[0]["weight_decay"]
    ('Adam', 1e-05, 0.01)
    """
    cls = torch.optim.AdamW if decouple_wd else torch.optim.Adam
    return cls(params, lr=lr, betas=(mom, sqr_mom), eps=eps, weight_decay=wd)
