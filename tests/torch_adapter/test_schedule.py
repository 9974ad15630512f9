"""ParamScheduler on precomputed tables, and the fit policies."""

import numpy as np
import pytest
import torch

import schedcore
from schedcore import SchedCos, SchedLin, Schedule, one_cycle, schedule_table
from torch_adapter import Callback, ParamScheduler
from torch_adapter.testing import synth_dbunch, synth_learner


class Counting(Schedule):
    """Wraps a schedule and counts its evaluations (calls of ``_eval``)."""

    def __init__(self, inner):
        self.inner, self.calls, self.n_groups = inner, 0, inner.n_groups

    def _eval(self, p, is_sorted=False):
        self.calls += 1
        return self.inner._eval(p, is_sorted)


def test_schedule_evaluated_once_per_fit_not_per_batch():
    lr, mom = Counting(SchedLin(1e-3, 1e-2)), Counting(SchedCos(0.9, 0.8))
    learn = synth_learner()
    with learn.no_logging():
        learn.fit(3, cbs=ParamScheduler({"lr": lr, "mom": mom}))
    assert (lr.calls, mom.calls) == (1, 1)
    assert len(learn.recorder.hps["lr"]) == 30
    np.testing.assert_allclose(learn.recorder.hps["mom"], SchedCos(0.9, 0.8)(np.arange(30) / 30))


def test_applied_values_are_the_table_rows():
    seen = []

    class Watch(Callback):
        order = 70

        def before_batch(self):
            if self.learn.training:
                g = self.learn.opt.param_groups[0]
                seen.append((g["lr"], g["momentum"]))

    learn = synth_learner()
    with learn.no_logging():
        learn.fit_one_cycle(2, lr_max=1e-2, cbs=Watch())
    table = schedule_table(one_cycle(1e-2), 20)
    assert [s[0] for s in seen] == table["lr"].tolist() == learn.recorder.hps["lr"]
    assert [s[1] for s in seen] == table["mom"].tolist() == learn.recorder.hps["mom"]
    assert learn.recorder.lrs == table["lr"].tolist()


def test_start_epoch_resume_equals_uninterrupted_schedule():
    full = synth_learner()
    with full.no_logging():
        full.fit_one_cycle(4, lr_max=1e-2)
    resumed = synth_learner()
    with resumed.no_logging():
        resumed.fit_one_cycle(4, lr_max=1e-2, start_epoch=2)
    assert resumed.recorder.hps["lr"] == full.recorder.hps["lr"][20:]
    assert resumed.recorder.hps["mom"] == full.recorder.hps["mom"][20:]
    assert resumed.recorder.lrs == full.recorder.lrs[20:]
    assert resumed.train_iter == full.train_iter == 40
    assert resumed.epoch == 3 and len(resumed.recorder.values) == 2


def test_resume_from_saved_state_matches_uninterrupted_weights(tmp_path):
    torch.manual_seed(0)
    full = synth_learner(path=tmp_path)
    data, init = full.dls, {k: v.clone() for k, v in full.model.state_dict().items()}
    torch.manual_seed(1)
    with full.no_logging():
        full.fit_one_cycle(2, lr_max=1e-2)

    torch.manual_seed(0)
    part = synth_learner(path=tmp_path, data=data)
    part.model.load_state_dict(init)
    torch.manual_seed(1)
    with part.no_logging():
        part.fit_one_cycle(2, lr_max=1e-2, cbs=StopAfterEpoch(0))
    part.save("half")
    rng = torch.get_rng_state()
    again = synth_learner(path=tmp_path, data=data).load("half")
    torch.set_rng_state(rng)
    with again.no_logging():
        again.fit_one_cycle(2, lr_max=1e-2, start_epoch=1)
    for a, b in zip(again.model.parameters(), full.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)


class StopAfterEpoch(Callback):
    def __init__(self, epoch):
        self.stop = epoch

    def after_epoch(self):
        from torch_adapter import CancelFitException

        if self.learn.epoch == self.stop:
            raise CancelFitException()


def test_per_group_list_of_schedules():
    from torch import nn

    from torch_adapter import Learner
    from torch_adapter.testing import synth_dbunch

    model = nn.Sequential(nn.Linear(1, 2), nn.Linear(2, 1))
    learn = Learner(
        synth_dbunch(), model, nn.MSELoss(), splitter=lambda m: [m[0].parameters(), m[1].parameters()]
    )
    scheds = {"lr": [SchedLin(0.0, 1e-3), SchedLin(0.0, 1e-2)]}
    with learn.no_logging():
        learn.fit(1, cbs=ParamScheduler(scheds))
    sched_cb_table = learn.recorder.hps["lr"]
    np.testing.assert_allclose(sched_cb_table, SchedLin(0.0, 1e-2)(np.arange(10) / 10))
    assert [g["lr"] for g in learn.opt.param_groups] == pytest.approx([0.9e-3, 0.9e-2])
    # one writer, one message: a list of 3 schedules and 3 per-group values are the same error
    with pytest.raises(ValueError, match=r"'lr' has values for \(3,\) groups but the optimizer has 2"), learn.no_logging():
        learn.fit(1, cbs=ParamScheduler({"lr": [SchedLin(0, 1)] * 3}))
    with pytest.raises(ValueError, match=r"'lr' has values for \(3,\) groups but the optimizer has 2"), learn.no_logging():
        learn.fit(1, cbs=ParamScheduler({"lr": SchedLin([1.0, 2.0, 3.0], 0.0)}))


def test_unknown_hyper_name_raises_naming_the_optimizer():
    learn = synth_learner()
    with pytest.raises(ValueError, match=r"'sqr_mom' was given but SGD has no such hyper-parameter"), learn.no_logging():
        learn.fit(1, cbs=ParamScheduler({"sqr_mom": SchedLin(0.9, 0.99)}))
    with pytest.raises(ValueError, match="non-empty dict"):
        ParamScheduler({})


def test_tensor_learning_rate_is_filled_in_place():
    import functools

    learn = synth_learner(opt_func=functools.partial(torch.optim.Adam, foreach=False))
    learn.create_opt()
    lr = torch.tensor(1e-3)
    learn.opt.param_groups[0]["lr"] = lr
    with learn.no_logging():
        learn.fit(1, lr=lr.item(), cbs=ParamScheduler({"lr": SchedLin(1e-3, 1e-2)}))
    assert learn.opt.param_groups[0]["lr"] is lr
    assert lr.item() == pytest.approx(SchedLin(1e-3, 1e-2)(0.9))
    assert learn.recorder.lrs == pytest.approx(SchedLin(1e-3, 1e-2)(np.arange(10) / 10).tolist())


def test_fit_warmup_cosine_and_wsd_follow_schedcore():
    learn = synth_learner()
    with learn.no_logging():
        learn.fit_warmup_cosine(2, lr_max=1e-2, warmup_pct=0.1)
    table = schedule_table(schedcore.warmup_cosine(1e-2, 0.1), 20)
    assert learn.recorder.hps["lr"] == table["lr"].tolist()
    with learn.no_logging():
        learn.fit_wsd(2, lr_max=1e-2, warmup_pct=0.1, decay_pct=0.3, decay="linear")
    table = schedule_table(schedcore.wsd(1e-2, 0.1, 0.3, decay="linear"), 20)
    assert learn.recorder.hps["lr"] == table["lr"].tolist()


def test_fit_flat_cos_and_sgdr_values():
    learn = synth_learner()
    with learn.no_logging():
        learn.fit_flat_cos(2, lr=1e-2)
    assert learn.recorder.hps["lr"] == schedule_table(schedcore.flat_cos(1e-2), 20)["lr"].tolist()
    with learn.no_logging():
        learn.fit_sgdr(2, 1, lr_max=1e-2, cycle_mult=1)
    assert learn.n_epoch == 2
    assert learn.recorder.hps["lr"] == schedule_table(schedcore.sgdr(2, 1, 1e-2, 1)[0], 20)["lr"].tolist()
    with pytest.raises(ValueError, match=r"number of epochs .*must be a whole number; got 2.5"):
        learn.fit_sgdr(2, 1, cycle_mult=1.5)


def test_fine_tune_freezes_then_unfreezes_with_discriminative_lrs():
    from torch import nn

    from torch_adapter import Learner
    from torch_adapter.testing import synth_dbunch

    model = nn.Sequential(nn.Linear(1, 2), nn.Linear(2, 1))
    learn = Learner(
        synth_dbunch(), model, nn.MSELoss(), splitter=lambda m: [m[0].parameters(), m[1].parameters()]
    )
    first = [p.detach().clone() for p in model[0].parameters()]
    lrs = []

    class Watch(Callback):
        order = 70

        def before_batch(self):
            if self.learn.training:
                lrs.append([g["lr"] for g in self.learn.opt.param_groups])

    with learn.no_logging():
        learn.fine_tune(1, base_lr=2e-3, freeze_epochs=1, cbs=Watch())
    lrs = np.array(lrs)
    assert lrs.shape == (20, 2)
    # frozen phase: slice(2e-3) -> (2e-4, 2e-3) peak; unfrozen: slice(1e-5, 1e-3)
    np.testing.assert_allclose(lrs[:10, 1] / lrs[:10, 0], 10)
    np.testing.assert_allclose(lrs[10:, 1] / lrs[10:, 0], 100)
    assert lrs[10:, 1].max() <= 1e-3 + 1e-12
    assert not all(torch.equal(a, b) for a, b in zip(first, model[0].parameters(), strict=True))
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_move_and_scheduling_never_synchronises():
    from torch_adapter import Recorder

    learn = synth_learner(on_nonfinite="continue")  # the NaN guard reads the loss: a sync by design
    learn.model.cuda()
    learn.remove_cb(Recorder)  # the Recorder reads the loss too
    with learn.no_logging():
        learn.fit(1)  # warm up CUDA, create the optimizer state
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            learn.fit_one_cycle(2, cbs=ParamScheduler({"wd": SchedLin(0.0, 1e-3)}))
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert learn.xb[0].device.type == "cuda" and learn.yb[0].device.type == "cuda"


class _LongerThanItsLen:
    """A loader whose len() says 2 batches while it yields 3 (an iterable dataset gone wrong)."""

    def __init__(self, dl):
        self.dl = dl

    def __len__(self) -> int:
        return 2

    def __iter__(self):
        return iter(self.dl)


def test_a_loader_yielding_more_batches_than_its_len_is_a_clear_error():
    dls = synth_dbunch(n_train=3, n_valid=1)
    dls.train = _LongerThanItsLen(dls.train)
    learn = synth_learner(data=dls)
    with learn.no_logging(), pytest.raises(IndexError, match=r"training batch 2 of this fit has no row .*2 rows.*len\(\)"):
        learn.fit_one_cycle(1)
    assert len(learn.recorder.lrs) == 2  # the two batches the table covers did train
