"""The adapter's number inputs go through schedcore.guards: right exception, named parameter (issue 11)."""

from __future__ import annotations

import math

import pytest
import torch

import schedcore
from torch_adapter.lr_scheduler import TableScheduler
from torch_adapter.optim import get_hyper, set_hyper
from torch_adapter.testing import synth_learner


def sgd(n_groups: int = 1) -> torch.optim.SGD:
    params = [{"params": [torch.zeros(2, requires_grad=True)]} for _ in range(n_groups)]
    return torch.optim.SGD(params, lr=0.1, momentum=0.9)


def _saved_state() -> dict:
    opt = sgd()
    sched = TableScheduler(opt, schedcore.one_cycle(1e-2), 10)
    for _ in range(3):
        opt.step()
        sched.step()
    return sched.state_dict()


@pytest.mark.parametrize("last_epoch, exc, match", [
    (-5, ValueError, "last_epoch must be an integer >= -1; got -5"),
    ("7", TypeError, "last_epoch must be an integer; got '7'"),
    (3.7, TypeError, r"last_epoch must be an integer; got 3.7"),
    (3.0, TypeError, r"last_epoch must be an integer; got 3.0"),
    (True, TypeError, "last_epoch must be an integer; got True"),
])  # fmt: skip
def test_load_state_dict_checks_last_epoch(last_epoch, exc, match):
    """Before: -5 was accepted (then rows were read from the end), and so were "7" and 3.7."""
    state = {**_saved_state(), "last_epoch": last_epoch}
    opt = sgd()
    sched = TableScheduler(opt, schedcore.one_cycle(1e-2), 10)
    with pytest.raises(exc, match=match):
        sched.load_state_dict(state)
    assert sched.last_epoch == 0  # nothing was changed


def test_load_state_dict_accepts_a_tensor_step_and_names_missing_keys():
    state = _saved_state()
    sched = TableScheduler(sgd(), schedcore.one_cycle(1e-2), 10)
    sched.load_state_dict({**state, "last_epoch": torch.tensor(3)})
    assert sched.last_epoch == 3
    for key in ("last_epoch", "_step_count"):
        partial = {k: v for k, v in state.items() if k != key}
        with pytest.raises(ValueError, match=f"the scheduler state lacks \\['{key}'\\]"):  # was a KeyError
            TableScheduler(sgd(), schedcore.one_cycle(1e-2), 10).load_state_dict(partial)


@pytest.mark.parametrize("last_epoch, exc", [(-2, ValueError), ("0", TypeError), (1.0, TypeError)])
def test_constructor_last_epoch(last_epoch, exc):
    with pytest.raises(exc, match="last_epoch must be an integer"):
        TableScheduler(sgd(), schedcore.one_cycle(1e-2), 10, last_epoch=last_epoch)


def test_negative_learning_rates_refused():
    with pytest.raises(ValueError, match=r"'lr' has negative values \(first at row 0"):
        TableScheduler(sgd(), schedcore.SchedLin(-1e-3, 1e-3), 10)
    with pytest.raises(ValueError, match="lr_max must be a finite number >= 0; got -0.01"):
        TableScheduler.one_cycle(sgd(), 10, -1e-2)
    with pytest.raises(TypeError, match="lr_max must be a number; got '0.01'"):
        TableScheduler.one_cycle(sgd(), 10, "0.01")


@pytest.mark.parametrize("value, exc, match", [
    (math.inf, ValueError, "value for 'lr' must be a finite number >= 0; got inf"),
    (math.nan, ValueError, "value for 'lr' must be a finite number >= 0; got nan"),
    (-0.1, ValueError, "value for 'lr' must be a finite number >= 0; got -0.1"),
    ([0.1, math.nan], ValueError, "value for 'lr' must hold finite numbers >= 0; got nan at index 1"),
    ("0.1", TypeError, "value for 'lr' must be a number; got '0.1'"),
    (True, TypeError, "value for 'lr' must be a number; got True"),
    (torch.tensor(math.inf), ValueError, "value for 'lr' must be a finite number >= 0; got inf"),
])  # fmt: skip
def test_set_hyper_refuses_bad_numbers(value, exc, match):
    opt = sgd(2)
    with pytest.raises(exc, match=match):
        set_hyper(opt, "lr", value)
    assert get_hyper(opt, "lr") == [0.1, 0.1]
    with pytest.raises(ValueError, match="value for 'mom' must be a finite number; got inf"):
        set_hyper(opt, "mom", math.inf)


@pytest.mark.parametrize("lr", [math.nan, math.inf, -1e-2])
def test_fit_with_a_bad_lr_is_an_error_before_training(lr):
    """Before: fit(1, lr=nan) trained and left every weight NaN."""
    learn = synth_learner()
    before = [p.detach().clone() for p in learn.model.parameters()]
    with pytest.raises(ValueError, match="value for 'lr' must be a finite number >= 0"):
        with learn.no_logging():
            learn.fit(1, lr=lr)
    for p, q in zip(learn.model.parameters(), before, strict=True):
        assert torch.equal(p.detach(), q)
