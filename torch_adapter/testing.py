"""Test utilities (fastai's ``test_utils``): a synthetic regression task and small assertions.

``synth_learner()`` fits ``y = a*x + b`` with :class:`RegModel`, SGD (momentum 0.9) and MSE, on
10 training and 2 validation batches of 16, so that fastai's documented examples run with
only their imports changed.

>>> learn = synth_learner()
>>> len(learn.dls.train), len(learn.dls.valid), type(learn.opt_func.func).__name__
(10, 2, 'type')
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .data import DataLoaders
from .learner import Learner

__all__ = ["synth_dbunch", "RegModel", "synth_learner", "test_eq", "test_close", "L", "range_of"]


def synth_dbunch(
    a: float = 2, b: float = 3, bs: int = 16, n_train: int = 10, n_valid: int = 2
) -> DataLoaders:
    """``n_train`` shuffled training and ``n_valid`` validation batches of ``(x, a*x + b + noise)``.

    >>> xb, yb = synth_dbunch(bs=4).one_batch()
    >>> xb.shape, yb.shape
    (torch.Size([4, 1]), torch.Size([4, 1]))
    """

    def data(n: int) -> TensorDataset:
        x = torch.randn(bs * n, 1)
        return TensorDataset(x, a * x + b + 0.1 * torch.randn(bs * n, 1))

    train = DataLoader(data(n_train), batch_size=bs, shuffle=True)
    return DataLoaders(train, DataLoader(data(n_valid), batch_size=bs))


class RegModel(nn.Module):
    """``x*a + b`` with scalar parameters ``a`` and ``b`` (random at start).

    >>> m = RegModel(); m.a.data.fill_(2.0); m.b.data.fill_(1.0)
    tensor([2.])
    tensor([1.])
    >>> m(torch.tensor([3.0]))
    tensor([7.], grad_fn=<AddBackward0>)
    """

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.randn(1)), nn.Parameter(torch.randn(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.a + self.b


def synth_learner(n_trn: int = 10, n_val: int = 2, lr: float = 1e-3, **kwargs) -> Learner:
    """A :class:`Learner` on :func:`synth_dbunch` with :class:`RegModel`, SGD(momentum=0.9), MSE.

    >>> synth_learner(lr=1e-2).lr
    0.01
    """
    data = kwargs.pop("data", None) or synth_dbunch(n_train=n_trn, n_valid=n_val)
    model = kwargs.pop("model", None) or RegModel()
    opt_func = kwargs.pop("opt_func", partial(torch.optim.SGD, momentum=0.9))
    return Learner(data, model, nn.MSELoss(), opt_func=opt_func, lr=lr, **kwargs)


def _flat(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], torch.Tensor):
        return np.concatenate([t.detach().cpu().reshape(-1).numpy() for t in x])
    return np.asarray(x, dtype=np.float64)


def test_eq(a, b) -> None:
    """Assert ``a == b`` (element-wise for arrays, tensors and lists of them).

    >>> test_eq([1, 2], [1.0, 2.0])
    """
    if isinstance(a, (dict, str)) or isinstance(b, (dict, str)):
        if a != b:
            raise AssertionError(f"{a!r} != {b!r}")
        return
    fa, fb = _flat(a), _flat(b)
    if fa.shape != fb.shape or not np.array_equal(fa, fb):
        raise AssertionError(f"{a!r} != {b!r}")


test_eq.__test__ = False  # pytest: not a test


def test_close(a, b, eps: float = 1e-5) -> None:
    """Assert ``|a - b| < eps`` element-wise.

    >>> test_close([0.1 + 0.2], [0.3])
    """
    fa, fb = _flat(a), _flat(b)
    if fa.shape != fb.shape or not np.all(np.abs(fa - fb) < eps):
        raise AssertionError(f"{a!r} and {b!r} differ by eps={eps} or more")


test_close.__test__ = False  # pytest: not a test


def L(items) -> list:
    """A list of ``items`` (stands in for fastcore's ``L`` in ported examples).

    >>> L(map(abs, [-1, 2]))
    [1, 2]
    """
    return list(items)


def range_of(x) -> range:
    """``range(len(x))``.

    >>> list(range_of("ab"))
    [0, 1]
    """
    return range(len(x))
