"""Learner: event order, cancel exceptions, counters, callbacks, groups, freeze, save/load, errors."""

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from torch_adapter import (
    Callback,
    CancelBackwardException,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
    DataLoaders,
    Learner,
)
from torch_adapter.callback import EVENTS
from torch_adapter.testing import synth_dbunch, synth_learner

BATCH = ["before_batch", "after_pred", "after_loss"]
TRAIN_BATCH = BATCH + ["before_backward", "after_backward", "before_step", "after_step", "after_batch"]
VALID_BATCH = BATCH + ["after_batch"]


class Log(Callback):
    """Records every event, and raises ``exc`` at the first ``at`` event."""

    def __init__(self, at=None, exc=None):
        self.at, self.exc, self.events = at, exc, []
        for e in EVENTS:
            setattr(self, e, self._make(e))

    def _make(self, event):
        def handler():
            self.events.append(event)
            if event == self.at and self.exc is not None:
                exc, self.exc = self.exc, None
                raise exc()

        return handler


def tiny(**kwargs):
    return synth_learner(n_trn=2, n_val=1, **kwargs)


def fit_events(at=None, exc=None, n_epoch=1):
    learn, log = tiny(), Log(at, exc)
    with learn.no_logging():
        learn.fit(n_epoch, cbs=log)
    return log.events


def test_event_order():
    expected = (
        ["before_fit", "before_epoch", "before_train"]
        + TRAIN_BATCH * 2
        + ["after_train", "before_validate"]
        + VALID_BATCH
        + ["after_validate", "after_epoch", "after_fit", "finally_fit"]
    )
    assert fit_events() == expected


@pytest.mark.parametrize(
    "at, exc, stage, skipped",
    [
        ("after_pred", CancelBatchException, "batch", "after_loss"),
        ("before_backward", CancelBackwardException, "backward", "after_backward"),
        ("before_step", CancelStepException, "step", "after_step"),
        ("before_train", CancelTrainException, "train", "before_batch"),
        ("before_validate", CancelValidException, "validate", None),
        ("after_train", CancelEpochException, "epoch", "before_validate"),
        ("before_epoch", CancelFitException, "fit", "before_train"),
    ],
)
def test_cancel_exceptions_skip_their_stage(at, exc, stage, skipped):
    events = fit_events(at, exc)
    i = events.index(at)
    after = events[i + 1 :]
    assert after[:2] == [f"after_cancel_{stage}", f"after_{stage}"]
    if skipped:
        assert skipped not in events[i : events.index(f"after_{stage}")]
    assert events[-2:] == ["after_fit", "finally_fit"]


def test_cancelled_step_leaves_weights_and_fit_goes_on():
    learn = tiny()
    before = [p.detach().clone() for p in learn.model.parameters()]

    class NoStep(Callback):
        def before_step(self):
            raise CancelStepException()

    with learn.no_logging():
        learn.fit(2, cbs=NoStep())
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters(), strict=True))
    assert learn.train_iter == 4 and len(learn.recorder.values) == 2


def test_callbacks_sorted_by_order_stably():
    calls = []

    def make(name, order):
        return type(name, (Callback,), {"order": order, "before_fit": lambda self: calls.append(name)})()

    learn = tiny(cbs=[make("B", 1), make("A", -1), make("C", 1)])
    with learn.no_logging():
        learn.fit(1)
    assert calls == ["A", "B", "C"]


def test_pct_train_and_train_iter_increments():
    seen = []

    class Watch(Callback):
        def before_batch(self):
            if self.learn.training:
                seen.append((self.learn.epoch, self.learn.iter, self.learn.train_iter, self.learn.pct_train))

    learn = synth_learner(n_trn=3)
    with learn.no_logging():
        learn.fit(2, cbs=Watch())
    assert [s[2] for s in seen] == list(range(6))
    np.testing.assert_allclose([s[3] for s in seen], np.arange(6) / 6)
    assert [(s[0], s[1]) for s in seen] == [(e, i) for e in range(2) for i in range(3)]
    assert learn.train_iter == 6 and math.isclose(learn.pct_train, 1.0)


def test_recorder_smoothing_formula():
    raw = []

    class Raw(Callback):
        order = 100

        def after_batch(self):
            if self.learn.training:
                raw.append(self.learn.loss.item())

    learn = synth_learner()
    with learn.no_logging():
        learn.fit(2, cbs=Raw())
    v, expected = 0.0, []
    for k, x in enumerate(raw, start=1):
        v = 0.98 * v + 0.02 * x
        expected.append(v / (1 - 0.98**k))
    np.testing.assert_allclose(learn.recorder.losses, expected, rtol=1e-12)
    assert learn.recorder.values[-1][0] == learn.recorder.losses[-1] == learn.smooth_loss


def test_callback_management():
    learn = tiny()
    log = Log()
    learn.add_cb(log)
    assert learn.log is log and log.learn is learn
    with learn.removed_cbs(log):
        assert log not in learn.cbs and not hasattr(learn, "log")
    assert learn.log is log
    learn.remove_cb(Log)
    assert log not in learn.cbs
    with learn.added_cbs([Log]):
        assert isinstance(learn.log, Log)
    assert not hasattr(learn, "log")
    with pytest.raises(TypeError, match="Callback"):
        learn.add_cb(object())

    class Model(Callback):
        pass

    with pytest.raises(ValueError, match="'model'"):
        learn.add_cb(Model())


def test_fit_with_raising_callback_removes_temporary_callbacks():
    class Boom(Callback):
        def after_batch(self):
            raise RuntimeError("boom")

    learn, log = tiny(), Log()
    n_cbs = len(learn.cbs)
    with pytest.raises(RuntimeError, match="boom"), learn.no_logging():
        learn.fit(1, cbs=[log, Boom()])
    assert len(learn.cbs) == n_cbs and not hasattr(learn, "boom") and not hasattr(learn, "log")
    assert log.events[-1] == "finally_fit" and "after_fit" not in log.events


def two_group_learner(**kwargs):
    model = nn.Sequential(nn.Linear(1, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))

    def splitter(m):
        return [list(m[0].parameters()) + list(m[1].parameters()), list(m[2].parameters())]

    return Learner(synth_dbunch(), model, nn.MSELoss(), splitter=splitter, **kwargs)


def test_discriminative_lrs_from_slice():
    learn = two_group_learner()
    with learn.no_logging():
        learn.fit(1, lr=slice(1e-4, 1e-2))
        assert [g["lr"] for g in learn.opt.param_groups] == pytest.approx([1e-4, 1e-2])
        learn.fit(1, lr=slice(1e-2))
        assert [g["lr"] for g in learn.opt.param_groups] == pytest.approx([1e-3, 1e-2])
        learn.fit_one_cycle(1, lr_max=slice(1e-4, 1e-2))
    assert learn.recorder.hps["lr"][0] == pytest.approx(1e-2 / 25)  # hps: the last group's values


def test_one_cycle_per_group_table():
    from torch_adapter import ParamScheduler

    learn = two_group_learner()
    seen = []

    class Watch(Callback):
        order = 70

        def before_batch(self):
            if self.learn.training:
                seen.append([g["lr"] for g in self.learn.opt.param_groups])

    with learn.no_logging():
        learn.fit_one_cycle(1, lr_max=slice(1e-4, 1e-2), cbs=Watch())
    seen = np.array(seen)
    ps = learn.cbs  # the ParamScheduler is gone after the fit
    assert not any(isinstance(c, ParamScheduler) for c in ps)
    np.testing.assert_allclose(seen[:, 1] / seen[:, 0], 100)


def test_freeze_keeps_frozen_group_unchanged_but_norm_layers_train():
    learn = two_group_learner(lr=1e-2)
    learn.freeze()
    model = learn.model
    lin0 = [p.detach().clone() for p in model[0].parameters()]
    bn = [p.detach().clone() for p in model[1].parameters()]
    last = [p.detach().clone() for p in model[2].parameters()]
    with learn.no_logging():
        learn.fit(1)
    assert all(torch.equal(a, b) for a, b in zip(lin0, model[0].parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(bn, model[1].parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(last, model[2].parameters(), strict=True))
    learn.unfreeze()
    assert all(p.requires_grad for p in model.parameters())
    learn2 = two_group_learner(train_bn=False)
    learn2.freeze()
    assert not any(p.requires_grad for p in learn2.model[1].parameters())


def test_save_load_round_trip(tmp_path):
    learn = two_group_learner(path=tmp_path)
    with learn.no_logging():
        learn.fit(1)
    file = learn.save("m")
    assert file == tmp_path / "models" / "m.pth" and file.exists()
    assert [p.name for p in file.parent.iterdir()] == ["m.pth"]  # no temporary left behind
    state = {k: v.clone() for k, v in learn.model.state_dict().items()}
    opt_state = learn.opt.state_dict()

    other = two_group_learner(path=tmp_path)
    other.load("m")
    for k, v in other.model.state_dict().items():
        assert torch.equal(v, state[k])
    for i, s in opt_state["state"].items():
        for k, v in s.items():
            assert torch.equal(torch.as_tensor(other.opt.state_dict()["state"][i][k]), torch.as_tensor(v))

    learn.save("w", with_opt=False)
    third = two_group_learner(path=tmp_path)
    with pytest.warns(UserWarning, match="no optimizer state"):
        third.load("w")
    assert third.opt is not None and not third.opt.state  # fastai's load creates a fresh optimizer
    assert all(
        torch.equal(a, b) for a, b in zip(third.model.parameters(), learn.model.parameters(), strict=True)
    )
    with pytest.raises(FileNotFoundError, match="nope"):
        third.load("nope")


def test_validate_returns_loss_and_metrics():
    from torch_adapter import accuracy

    x = torch.randn(64, 2)
    y = (x[:, 0] > 0).long()
    from torch.utils.data import DataLoader, TensorDataset

    dl = DataLoader(TensorDataset(x, y), batch_size=16)
    learn = Learner(DataLoaders(dl, dl), nn.Linear(2, 2), nn.CrossEntropyLoss(), metrics=[accuracy], lr=0.1)
    with learn.no_logging():
        learn.fit(3)
    loss, acc = learn.validate()
    expected = nn.CrossEntropyLoss()(learn.model(x), y).item()
    assert loss == pytest.approx(expected, rel=1e-5)
    assert acc == pytest.approx((learn.model(x).argmax(1) == y).float().mean().item())
    assert len(learn.recorder.values[-1]) == 3


def test_logging_prints_one_row_per_epoch():
    lines = []
    learn = synth_learner()
    learn.logger = lambda *a: lines.append(" ".join(a).split())
    learn.fit(2)
    assert lines[0] == ["epoch", "train_loss", "valid_loss", "time"]
    assert [row[0] for row in lines[1:]] == ["0", "1"] and len(lines[1]) == 4
    with learn.no_logging():
        learn.fit(1)
    assert len(lines) == 3


def test_validation_average_is_item_weighted_and_float64_on_cpu():
    """valid_loss = sum over batches of (batch mean * batch size) / items, an uneven last batch
    included; on the CPU the sum is a float64 one (float32 tensor sums drift by ~1e-7)."""
    import math

    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    x, y = torch.randn(1000, 1) * 100, torch.randn(1000, 1)
    dl = DataLoader(TensorDataset(x, y), batch_size=64)  # 15 batches of 64, one of 40
    learn = Learner(DataLoaders(dl, dl), nn.Linear(1, 1), nn.MSELoss(), lr=0.0)
    (loss,) = learn.validate()
    with torch.no_grad():
        parts = [nn.MSELoss()(learn.model(xb), yb).item() * len(xb) for xb, yb in dl]
    assert loss == pytest.approx(math.fsum(parts) / 1000, rel=1e-13)


def test_no_validation_data():
    learn = Learner(DataLoaders(synth_dbunch().train, None), nn.Linear(1, 1), nn.MSELoss())
    with learn.no_logging():
        learn.fit(1)
    assert [len(v) for v in learn.recorder.values] == [1]


class NaNAt(Callback):
    def __init__(self, at, value=float("nan")):
        self.at, self.value = at, value

    def after_pred(self):
        if self.learn.training and self.learn.train_iter == self.at:
            self.learn.pred = self.learn.pred * self.value


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nonfinite_loss_stops_before_backward(value):
    learn = tiny()
    with learn.no_logging():
        learn.fit(1)  # 2 batches: fine
        before = [p.detach().clone() for p in learn.model.parameters()]
        with pytest.warns(UserWarning, match=rf"loss {value} at epoch 1, batch 1: stopping the fit"):
            learn.fit(3, cbs=NaNAt(3, value))
    # stopped at train_iter 3 (epoch 1, batch 1): weights finite, exactly those after 3 good steps
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())
    assert learn.train_iter == 3 and len(learn.recorder.losses) == 3
    assert not all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters(), strict=True))


def test_nonfinite_loss_skip_and_continue():
    learn = tiny(on_nonfinite="skip")
    with learn.no_logging(), pytest.warns(UserWarning, match="skipping the batch"):
        learn.fit(2, cbs=NaNAt(1))
    assert learn.train_iter == 4 and all(torch.isfinite(p).all() for p in learn.model.parameters())
    # the skipped batch is recorded as NaN; the smoothed loss before and after it stays finite
    losses = learn.recorder.losses
    assert math.isnan(losses[1]) and all(math.isfinite(v) for i, v in enumerate(losses) if i != 1)
    assert math.isfinite(learn.smooth_loss) and all(math.isfinite(v[0]) for v in learn.recorder.values)
    learn = tiny(on_nonfinite="continue")
    with learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter("error")
        learn.fit(1, cbs=NaNAt(1))
    assert not all(torch.isfinite(p).all() for p in learn.model.parameters())
    with pytest.raises(ValueError, match="on_nonfinite.*'sometimes'"):
        tiny(on_nonfinite="sometimes")


def test_bad_inputs():
    empty = DataLoaders([], None)
    learn = Learner(empty, nn.Linear(1, 1), nn.MSELoss())
    with pytest.raises(ValueError, match="training data is empty"):
        learn.fit(1)
    learn = tiny()
    for n in (-1, 1.5, True):  # fit(0) trains nothing, as in fastai (test_fastai_compat)
        with pytest.raises(ValueError, match=f"n_epoch must be an integer >= 0; got {n!r}"):
            learn.fit(n)
    with pytest.raises(ValueError, match="start_epoch"):
        learn.fit(2, start_epoch=3)
    with pytest.raises(ValueError, match="slice end must be a finite number > 0"):
        learn.fit(1, lr=slice(1e-3, 0))
    with pytest.raises(ValueError, match="slice end must be a finite number > 0"):
        learn.fit_one_cycle(1, lr_max=slice(-1.0))
    with pytest.raises(TypeError, match="length"):
        Learner(DataLoaders(iter([]), None), nn.Linear(1, 1), nn.MSELoss()).fit(1)


def test_splitter_errors():
    model = nn.Sequential(nn.Linear(1, 2), nn.Linear(2, 1))
    overlap = Learner(
        synth_dbunch(), model, nn.MSELoss(), splitter=lambda m: [list(m.parameters()), [m[1].bias]]
    )
    with pytest.raises(ValueError, match=r"'1.bias' is in groups 0 and 1"):
        overlap.create_opt()
    missing = Learner(synth_dbunch(), model, nn.MSELoss(), splitter=lambda m: [list(m[0].parameters())])
    with pytest.raises(ValueError, match=r"\['1.weight', '1.bias'\] of the model are in no group"):
        missing.fit(1)


def test_batches_move_to_model_device():
    seen = []

    class Where(Callback):
        def after_pred(self):
            seen.append((self.learn.xb[0].device, self.learn.yb[0].device))

    learn = tiny()
    with learn.no_logging():
        learn.fit(1, cbs=Where())
    assert learn.device == torch.device("cpu") and set(seen) == {(torch.device("cpu"),) * 2}


@pytest.mark.parametrize("removed_handles_after_loss", [False, True])
def test_a_callback_added_mid_batch_gets_the_rest_of_that_batchs_events(removed_handles_after_loss):
    """The batch loop skips events nobody handles; a callback added in ``after_pred`` must still
    get ``after_loss`` .. ``after_batch`` of the same batch (also when, as here, no callback
    handled ``after_loss`` .. ``after_step`` before), and one removed there none of them."""
    late = Log()

    class Gone(Callback):
        def __init__(self):
            self.events = []

        def before_batch(self):
            self.events.append("before_batch")

    if removed_handles_after_loss:
        Gone.after_loss = lambda self: self.events.append("after_loss")
    gone = Gone()

    class Swap(Callback):
        def after_pred(self):
            if self.learn.training and self.learn.iter == 0 and late not in self.learn.cbs:
                self.learn.add_cb(late)
                self.learn.remove_cb(gone)

    learn = tiny()
    learn.add_cb(gone)
    with learn.no_logging():
        learn.fit(1, cbs=Swap())
    assert late.events[: len(TRAIN_BATCH) - 2] == TRAIN_BATCH[2:]  # after_loss .. after_batch of batch 0
    assert gone.events == ["before_batch"]  # removed in batch 0's after_pred: nothing after that


def test_a_callback_added_in_before_batch_gets_that_batchs_events():
    """With no callback handling an event inside the batch, the loop checks for none of them; a
    callback added in ``before_batch`` must still get every later event of that batch."""
    late = Log()

    class Add(Callback):
        def before_batch(self):
            if self.learn.training and late not in self.learn.cbs:
                self.learn.add_cb(late)

    learn = tiny()
    with learn.no_logging():
        learn.fit(1, cbs=Add())
    assert late.events[: len(TRAIN_BATCH) - 1] == TRAIN_BATCH[1:]  # after_pred .. after_batch of batch 0


def test_a_subclass_dispatch_sees_every_batch_event():
    """The loop fires before_batch/after_batch without ``self(event)``; a subclass that overrides
    ``__call__`` (to log or filter events) still sees them, as every other event."""
    seen = []

    class Logging(type(tiny())):
        def __call__(self, event):
            seen.append(event)
            super().__call__(event)

    learn = tiny()
    learn.__class__ = Logging
    with learn.no_logging():
        learn.fit(1)
    assert seen.count("before_batch") == seen.count("after_batch") == 3  # 2 training batches, 1 validation


def test_one_host_read_of_the_training_loss_per_step(monkeypatch):
    """The NaN guard reads the loss once; the Recorder reuses that read (``learn.loss_read``)
    instead of a second ``.item()``: one device sync per step on a GPU, not two."""
    learn, reads, shared = tiny(), [], []
    item = torch.Tensor.item

    class Look(Callback):
        run_valid = False

        def after_batch(self):
            tensor, value = self.learn.loss_read
            shared.append(tensor is self.learn.loss and value == item(tensor))

    monkeypatch.setattr(torch.Tensor, "item", lambda t: reads.append(t.grad_fn is not None) or item(t))
    with learn.no_logging():
        learn.fit(1, cbs=Look())
    assert reads.count(True) == 2  # 2 training batches: one read of each loss (losses have a grad_fn)
    assert shared == [True, True] and len(learn.recorder.losses) == 2


def test_the_loss_read_is_dropped_with_the_loss_at_each_batch():
    """``loss_read`` holds a loss tensor; it goes at the next batch's start together with
    ``learn.loss``, so a skipped batch's graph (never backwarded) is not kept through validation."""
    seen = []

    class Look(Callback):
        def before_batch(self):
            seen.append((self.learn.loss, self.learn.loss_read))

    learn = tiny()
    with learn.no_logging():
        learn.fit(1, cbs=Look())
    assert seen == [(None, None)] * 3  # 2 training batches, 1 validation batch


def test_a_loss_replaced_after_the_guard_is_read_again():
    """A callback that assigns ``learn.loss`` after the guard's read (as distributed training
    does with the mean over ranks) gets its own value recorded, not the stale read."""

    class Replace(Callback):
        def after_backward(self):
            self.learn.loss = torch.tensor(float(self.learn.iter) + 100.0)

    learn = tiny()
    with learn.no_logging():
        learn.fit(1, cbs=Replace(), lr=0.0)
    beta = learn.recorder.beta
    expected = [100.0, (beta * (1 - beta) * 100.0 + (1 - beta) * 101.0) / (1 - beta**2)]
    assert learn.recorder.losses == pytest.approx(expected, rel=1e-12)


def test_a_subclass_split_is_used_by_the_batch_loop():
    """The loop inlines Learner._split; a subclass that overrides it is still called."""

    class Doubling(type(tiny())):
        def _split(self, batch):
            super()._split(batch)
            self.xb = (self.xb[0] * 0 + 2.0,)

    learn = tiny()
    learn.__class__ = Doubling
    seen = []

    class Look(Callback):
        def after_pred(self):
            seen.append(bool((self.learn.xb[0] == 2.0).all()))

    with learn.no_logging():
        learn.fit(1, cbs=Look())
    assert seen and all(seen)


def test_a_split_set_on_the_instance_is_used_by_the_batch_loop():
    """``learn._split = f`` (patching one learner, not its class) is honoured as well."""
    learn, seen = tiny(), []
    plain = learn._split

    def halve(batch):
        plain(batch)
        learn.yb = (learn.yb[0] * 0 - 1.0,)

    learn._split = halve

    class Look(Callback):
        def after_loss(self):
            seen.append(bool((self.learn.yb[0] == -1.0).all()))

    with learn.no_logging():
        learn.fit(1, cbs=Look())
    assert seen and all(seen)
