"""Uniform hyper-parameter names <-> torch optimizer ``param_groups``.

Names (fastai's): ``lr``; ``mom`` (SGD/RMSprop ``momentum``, Adam/AdamW ``betas[0]``);
``sqr_mom`` (``betas[1]``, RMSprop ``alpha``); ``wd`` (``weight_decay``); ``eps``. They work
for any optimizer whose param_groups use those torch keys; a raw torch key present in the
param_groups (``"momentum"``, ``"alpha"``, ...) is accepted too.

>>> import torch
>>> opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.1)
>>> set_hyper(opt, "mom", 0.8)
>>> get_hyper(opt, "mom"), opt.param_groups[0]["betas"]
([0.8], (0.8, 0.999))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from schedcore import group_values

__all__ = ["HYPER_NAMES", "adamw", "get_hyper", "has_hyper", "set_hyper", "hyper_setter"]

# uniform name -> candidate (torch key, index in a tuple value or None), first match wins
_CANDIDATES: dict[str, tuple[tuple[str, int | None], ...]] = {
    "lr": (("lr", None),),
    "mom": (("betas", 0), ("momentum", None)),
    "sqr_mom": (("betas", 1), ("alpha", None)),
    "wd": (("weight_decay", None),),
    "eps": (("eps", None),),
}
HYPER_NAMES = tuple(_CANDIDATES)


def _resolve(opt: torch.optim.Optimizer, name: str) -> tuple[str, int | None] | None:
    """The (key, tuple index) that ``name`` means for ``opt``, or None if it has none."""
    group = opt.param_groups[0]
    for key, idx in _CANDIDATES.get(name, ()):
        if key in group:
            return key, idx
    if name not in _CANDIDATES and name in group and name != "params":
        return name, None
    return None


def _resolve_or_raise(opt: torch.optim.Optimizer, name: str) -> tuple[str, int | None]:
    found = _resolve(opt, name)
    if found is None:
        keys = sorted(k for k in opt.param_groups[0] if k != "params")
        raise ValueError(
            f"{type(opt).__name__} has no hyper-parameter {name!r}: its param_groups have keys {keys} "
            f"(uniform names: {', '.join(HYPER_NAMES)})"
        )
    return found


def has_hyper(opt: torch.optim.Optimizer, name: str) -> bool:
    """Whether ``opt``'s param_groups hold the hyper-parameter ``name``.

    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> has_hyper(opt, "mom"), has_hyper(opt, "sqr_mom")
    (True, False)
    """
    return _resolve(opt, name) is not None


def _as_float(v) -> float:
    return v.item() if isinstance(v, torch.Tensor) else float(v)


def get_hyper(opt: torch.optim.Optimizer, name: str) -> list[float]:
    """Current value of ``name`` in each parameter group, as floats.

    >>> opt = torch.optim.RMSprop([torch.zeros(1, requires_grad=True)], lr=0.1, alpha=0.9)
    >>> get_hyper(opt, "sqr_mom"), get_hyper(opt, "lr")
    ([0.9], [0.1])
    """
    key, idx = _resolve_or_raise(opt, name)
    if idx is None:
        return [_as_float(g[key]) for g in opt.param_groups]
    return [_as_float(g[key][idx]) for g in opt.param_groups]


def _per_group(value, n_groups: int, name: str) -> list[float]:
    """A value for each of ``n_groups`` groups from a scalar, sequence, array or slice."""
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        return [float(value)] * n_groups
    if isinstance(value, slice):
        return group_values(value, n_groups).tolist()
    if isinstance(value, (list, tuple, np.ndarray, torch.Tensor)):
        values = value.tolist() if hasattr(value, "tolist") else list(value)
        if not isinstance(values, list):  # 0-d array or tensor
            return [float(values)] * n_groups
        if len(values) != n_groups:
            raise ValueError(f"{name}: got {len(values)} values for {n_groups} parameter groups ({value!r})")
        return values
    if isinstance(value, np.number):
        return [float(value)] * n_groups
    raise TypeError(
        f"{name} must be a number, a sequence/array of per-group numbers or a slice; got {value!r}"
    )


def _assign(group: dict, key: str, idx: int | None, v: float) -> None:
    old = group[key]
    if idx is not None:
        items = list(old)
        if isinstance(items[idx], torch.Tensor):
            items[idx].fill_(v)
        else:
            items[idx] = v
        group[key] = tuple(items)
    elif isinstance(old, torch.Tensor):
        old.fill_(v)  # tensor hyper-parameter (e.g. a device lr): in place, no host/device sync
    else:
        group[key] = v


def set_hyper(opt: torch.optim.Optimizer, name: str, value) -> None:
    """Set ``name`` in every parameter group from a scalar, per-group sequence/array or ``slice``.

    Cheap enough to call every step. A tensor-valued hyper-parameter (e.g. a learning rate
    placed on the GPU) is filled in place. ``slice`` values follow :func:`schedcore.group_values`.

    >>> p1, p2 = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    >>> opt = torch.optim.SGD([{"params": [p1]}, {"params": [p2]}], lr=0.1, momentum=0.9)
    >>> set_hyper(opt, "lr", slice(1e-3))
    >>> get_hyper(opt, "lr")
    [0.0001, 0.001]
    >>> set_hyper(opt, "mom", [0.8, 0.7]); get_hyper(opt, "mom")
    [0.8, 0.7]
    """
    hyper_setter(opt, name)(value)


def hyper_setter(opt: torch.optim.Optimizer, name: str) -> Callable[[object], None]:
    """Resolve ``name`` once and return a fast ``setter(value)`` for per-step use.

    >>> opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    >>> set_sqr_mom = hyper_setter(opt, "sqr_mom")
    >>> set_sqr_mom(0.95); opt.param_groups[0]["betas"]
    (0.9, 0.95)
    """
    key, idx = _resolve_or_raise(opt, name)
    plain = idx is None and not any(isinstance(g[key], torch.Tensor) for g in opt.param_groups)

    def setter(value) -> None:
        # Look the groups up on every call: ``opt.load_state_dict`` replaces the list.
        groups = opt.param_groups
        if plain and type(value) is float:  # the per-step case: one table value for every group
            for g in groups:
                g[key] = value
            return
        values = _per_group(value, len(groups), name)
        if plain:
            for g, v in zip(groups, values, strict=True):
                g[key] = v
        else:
            for g, v in zip(groups, values, strict=True):
                _assign(g, key, idx, v)

    return setter


def adamw(
    params: Iterable,
    lr: float = 1e-3,
    mom: float = 0.9,
    sqr_mom: float = 0.99,
    eps: float = 1e-5,
    wd: float = 0.01,
    **kwargs,
) -> torch.optim.AdamW:
    """The default ``opt_func``: ``torch.optim.AdamW`` with fastai's defaults.

    betas ``(mom, sqr_mom) = (0.9, 0.99)``, eps ``1e-5``, decoupled weight decay ``0.01``.

    >>> opt = adamw([torch.zeros(1, requires_grad=True)], lr=1e-2)
    >>> g = opt.param_groups[0]; g["betas"], g["eps"], g["weight_decay"]
    ((0.9, 0.99), 1e-05, 0.01)
    """
    return torch.optim.AdamW(params, lr=lr, betas=(mom, sqr_mom), eps=eps, weight_decay=wd, **kwargs)
