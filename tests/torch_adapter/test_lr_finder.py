"""LRFinder and Learner.lr_find: schedule, stopping, exact restore, suggestions, curve files."""

import copy
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from schedcore import SchedExp, SchedLin, load_curve, minimum, slide, steep, suggest_lrs, valley  # noqa: E402
from schedcore.suggest import SuggestionWarning  # noqa: E402
from torch_adapter import Callback, DataLoaders, Learner, LRFinder, diverged  # noqa: E402
from torch_adapter.lr_finder import TrainingState  # noqa: E402
from torch_adapter.testing import L, range_of, synth_dbunch, synth_learner, test_eq  # noqa: E402


# ------------------------------------------------------------------------------ the seed's examples
def test_seed_lr_finder_callback():
    with tempfile.TemporaryDirectory() as d:
        learn = synth_learner(path=Path(d))
        init_a, init_b = learn.model.a, learn.model.b
        with learn.no_logging():
            learn.fit(20, cbs=LRFinder(num_it=100))
        assert len(learn.recorder.lrs) <= 100
        test_eq(len(learn.recorder.lrs), len(learn.recorder.losses))
        # Check stop if diverge
        if len(learn.recorder.lrs) < 100:
            assert learn.recorder.losses[-1] > 4 * min(learn.recorder.losses)
        # Test schedule
        test_eq(learn.recorder.lrs, [SchedExp(1e-7, 10)(i / 100) for i in range_of(learn.recorder.lrs)])
        # No validation data
        test_eq([len(v) for v in learn.recorder.values], [1 for _ in range_of(learn.recorder.values)])
        # Model loaded back properly
        test_eq(learn.model.a, init_a)
        test_eq(learn.model.b, init_b)
        test_eq(learn.opt.state_dict()["state"], {})  # torch's empty optimizer state (fastai's: [{}, {}])


def test_seed_lr_find_four_methods():
    with tempfile.TemporaryDirectory() as d:
        learn = synth_learner(path=Path(d))
        weights_pre_lr_find = L(learn.model.parameters())
        lr_min, lr_steep, lr_valley, lr_slide = learn.lr_find(suggest_funcs=(minimum, steep, valley, slide))
        weights_post_lr_find = L(learn.model.parameters())
        test_eq(weights_pre_lr_find, weights_post_lr_find)
        print(
            f"Minimum/10:\t{lr_min:.2e}\nSteepest point:\t{lr_steep:.2e}\nLongest valley:\t{lr_valley:.2e}\n"
            f"Slide interval:\t{lr_slide:.2e}"
        )


# ------------------------------------------------------------------------------------ exact restore
def bn_learner(**kwargs):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    learn = Learner(synth_dbunch(), model, nn.MSELoss(), lr=1e-2, **kwargs)
    with learn.no_logging():
        learn.fit(1)  # non-empty optimizer state and moved BatchNorm statistics
    learn.model.eval()  # a mode the finder must put back
    return learn


def state_of(learn):
    return (
        {k: v.detach().clone() for k, v in learn.model.state_dict().items()},
        copy.deepcopy(learn.opt.state_dict()),
        [m.training for m in learn.model.modules()],
    )


def assert_restored(learn, before):
    model, opt, modes = before
    now = learn.model.state_dict()
    assert now.keys() == model.keys()
    for k, v in model.items():
        assert torch.equal(now[k], v), k
    opt_now = learn.opt.state_dict()
    assert opt_now["param_groups"] == opt["param_groups"]  # every hyper-parameter
    assert opt_now["state"].keys() == opt["state"].keys()
    for i, s in opt["state"].items():
        for k, v in s.items():
            assert torch.equal(torch.as_tensor(opt_now["state"][i][k]), torch.as_tensor(v)), (i, k)
    assert [m.training for m in learn.model.modules()] == modes
    assert all(p.grad is None for p in learn.model.parameters())


class RaiseAt(Callback):
    def __init__(self, at, exc):
        self.at, self.exc = at, exc

    def after_batch(self):
        if self.learn.training and self.learn.train_iter == self.at:
            raise self.exc


class NaNAt(Callback):
    def __init__(self, at):
        self.at = at

    def after_pred(self):
        if self.learn.training and self.learn.train_iter == self.at:
            self.learn.pred = self.learn.pred * float("nan")


@pytest.mark.parametrize("opt_func", [None, functools.partial(torch.optim.SGD, momentum=0.9)])
@pytest.mark.parametrize("how", ["normal", "divergence", "nan", "exception", "interrupt"])
def test_everything_restored(how, opt_func):
    learn = bn_learner(**({"opt_func": opt_func} if opt_func else {}))
    before, rng = state_of(learn), torch.get_rng_state()
    kwargs = {"end_lr": 1e-3 if how == "normal" else 1e3, "stop_div": how != "normal", "show_plot": False}
    cbs = {
        "nan": NaNAt(8),
        "exception": RaiseAt(8, RuntimeError("boom")),
        "interrupt": RaiseAt(8, KeyboardInterrupt),
    }
    if how in cbs:
        learn.add_cb(cbs[how])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Learner NaN warning: the finder treats NaN as divergence
        warnings.simplefilter("ignore", SuggestionWarning)
        if how in ("exception", "interrupt"):
            with pytest.raises((RuntimeError, KeyboardInterrupt)):
                learn.lr_find(**kwargs)
        else:
            learn.lr_find(**kwargs)
    assert_restored(learn, before)
    assert torch.equal(torch.get_rng_state(), rng)
    n = len(learn.recorder.lrs)
    assert n == {"normal": 100, "divergence": n, "nan": 9, "exception": 7, "interrupt": 7}[how]
    if how == "divergence":
        assert n < 100
    if how == "nan":
        assert np.isnan(learn.recorder.losses[-1]) and np.isfinite(learn.recorder.losses[:-1]).all()


def test_hyper_parameters_set_by_hand_survive():
    learn = bn_learner()
    learn.opt.param_groups[0]["lr"], learn.opt.param_groups[0]["weight_decay"] = 0.123, 0.045
    learn.lr_find(show_plot=False)
    assert (learn.opt.param_groups[0]["lr"], learn.opt.param_groups[0]["weight_decay"]) == (0.123, 0.045)


# ----------------------------------------------------------------------------- schedule, stopping
def test_schedule_linear_per_group_and_spanning_epochs():
    learn = synth_learner(n_trn=4)
    with learn.no_logging():
        learn.fit(10, cbs=LRFinder(1e-3, 1e-1, num_it=25, stop_div=False, mode="linear"))
    assert learn.recorder.lrs == SchedLin(1e-3, 1e-1)(np.arange(25) / 25).tolist()
    assert learn.train_iter == 25 and learn.epoch == 6  # 7 epochs of 4 batches started, 25 batches run

    model = nn.Sequential(nn.Linear(1, 2), nn.Linear(2, 1))
    learn = Learner(
        synth_dbunch(), model, nn.MSELoss(), splitter=lambda m: [m[0].parameters(), m[1].parameters()]
    )
    seen = []

    class Watch(Callback):
        order = 70

        def before_batch(self):
            seen.append([g["lr"] for g in self.learn.opt.param_groups])

    with learn.no_logging():
        learn.fit(2, cbs=[LRFinder([1e-6, 1e-5], [1e-2, 1e-1], num_it=10, stop_div=False), Watch()])
    expected = SchedExp(np.array([1e-6, 1e-5]), np.array([1e-2, 1e-1]))(np.arange(10) / 10)
    np.testing.assert_array_equal(np.array(seen), expected)


def test_diverged_rule_positive_zero_negative():
    assert diverged(4.0001, 1.0, 3.0) and not diverged(4.0, 1.0, 3.0)
    assert not diverged(0.5, 0.0, 1.0) and diverged(3.5, 0.0, 1.0)  # zero best: scale = the drop
    assert not diverged(-99.0, -100.0, -90.0) and diverged(201.0, -100.0, -90.0)
    assert diverged(float("inf"), 1.0, 2.0) and diverged(float("nan"), -1.0, 2.0)


def test_negative_losses_still_stop_on_divergence():
    def shifted_mse(pred, y):
        return nn.functional.mse_loss(pred, y) - 1000.0

    learn = synth_learner(lr=1e-3)
    learn.loss_func = shifted_mse
    learn.lr_find(show_plot=False, end_lr=1e3)
    losses = learn.recorder.losses
    assert 20 < len(losses) < 100  # neither at once (fastai's 4x rule) nor never
    assert min(losses) < 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_it must be an integer >= 6; got 5"):
        LRFinder(num_it=5)
    with pytest.raises(ValueError, match="mode must be 'exp' or 'linear'"):
        LRFinder(mode="cos")
    with pytest.raises(ValueError, match="needs start_lr and end_lr > 0; got start_lr=0.0"):
        LRFinder(start_lr=0.0)
    learn = synth_learner()
    with pytest.raises(ValueError, match=r"save_to='curve.txt'"):
        learn.lr_find(save_to="curve.txt")
    assert learn.recorder.lrs == []  # checked before any training


# ----------------------------------------------------------------------------- repeatability
def test_two_runs_in_a_row_give_identical_curves():
    learn = synth_learner()
    torch.manual_seed(3)
    first = learn.lr_find(show_plot=False, suggest_funcs=(valley, minimum))
    curve = list(learn.recorder.losses)
    torch.manual_seed(3)
    second = learn.lr_find(show_plot=False, suggest_funcs=(valley, minimum))
    assert learn.recorder.losses == curve and first == second
    third = learn.lr_find(show_plot=False, suggest_funcs=(valley, minimum))  # RNG restored: same again
    assert learn.recorder.losses == curve and third == first


def unshuffled_learner(seed):
    torch.manual_seed(seed)
    dls = synth_dbunch()
    dls.train = DataLoader(dls.train.dataset, batch_size=16)  # no shuffling: no shared RNG use
    learn = synth_learner(data=dls)
    learn.create_opt()
    return learn


def test_parallel_learners_do_not_interfere():
    solo = []
    for seed in (1, 2):
        learn = unshuffled_learner(seed)
        learn.lr_find(show_plot=False)
        solo.append(list(learn.recorder.losses))
    learners = [unshuffled_learner(1), unshuffled_learner(2)]
    befores = [state_of(lrn) for lrn in learners]
    results = [None, None]

    def run(i):
        results[i] = learners[i].lr_find(show_plot=False)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for learn, before, curve in zip(learners, befores, solo, strict=True):
        assert learn.recorder.losses == curve
        assert_restored(learn, before)


# ------------------------------------------------------------------------------ suggestions, files
def test_short_curve_gives_nan_with_a_warning():
    learn = synth_learner()
    with pytest.warns(SuggestionWarning, match="slide"):
        s = learn.lr_find(num_it=10, show_plot=False, suggest_funcs=(minimum, slide))
    assert np.isfinite(s.minimum) and np.isnan(s.slide)


def test_failing_user_method_gives_nan_not_an_exception():
    def broken(lrs, losses, num_it):
        raise ZeroDivisionError("no")

    learn = synth_learner()
    with pytest.warns(UserWarning, match="broken"):
        s = learn.lr_find(show_plot=False, suggest_funcs=(valley, broken))
    assert np.isfinite(s.valley) and np.isnan(s.broken)


@pytest.mark.requires_matplotlib
def test_suggestions_are_suggest_lrs_on_the_recorded_curve_and_plot():
    learn = synth_learner()
    s = learn.lr_find(suggest_funcs=(valley, slide, minimum, steep))
    rec = learn.recorder
    assert s == suggest_lrs(rec.lrs, rec.losses, 100, (valley, slide, minimum, steep))
    fig = rec.lr_find_fig
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert [lab.split(":")[0] for lab in labels] == ["valley", "slide", "minimum", "steep"]


@pytest.mark.parametrize("ext", ["csv", "json", "npz"])
def test_saved_curve_gives_the_same_suggestions_from_the_command_line(tmp_path, ext):
    learn = synth_learner()
    funcs = (valley, slide, minimum, steep)
    path = tmp_path / f"lr_find.{ext}"
    s = learn.lr_find(show_plot=False, suggest_funcs=funcs, save_to=path)
    curve = load_curve(path)
    assert curve.lrs.tolist() == learn.recorder.lrs and curve.losses.tolist() == learn.recorder.losses
    assert curve.num_it == 100 and len(curve.raw_losses) == len(curve.losses)
    assert curve.suggest(funcs) == s
    if ext != "json":
        return
    out = subprocess.run(
        [sys.executable, "-m", "schedcore", "suggest", str(path), "--methods", "valley,slide,minimum,steep", "--json"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    row = json.loads(out.stdout)[0]["suggestions"]
    assert row == {k: (None if np.isnan(v) else v) for k, v in s._asdict().items()}


def test_lr_finder_without_validation_or_recorder():
    learn = Learner(DataLoaders(synth_dbunch().train, None), nn.Linear(1, 1), nn.MSELoss())
    with learn.no_logging():
        learn.fit(2, cbs=LRFinder(num_it=12))
    assert len(learn.recorder.lrs) == 12
    learn.remove_cb(learn.recorder)
    with pytest.raises(ValueError, match="needs the Learner's Recorder"), learn.no_logging():
        learn.fit(2, cbs=LRFinder(num_it=12))


# ------------------------------------------------------------- restore on every exit path (issue 11)
class RaiseIn(Callback):
    """Raises ``exc`` in ``event``; ordered before the finder (60), so its handler runs first."""

    order = 10

    def __init__(self, event, exc):
        self.event, self.exc = event, exc
        setattr(self, event, self._raise)

    def _raise(self):
        raise self.exc


def full_state(learn):
    model, opt, modes = state_of(learn)
    grads = [None if p.grad is None else p.grad.clone() for p in learn.model.parameters()]
    return model, opt, modes, grads, torch.get_rng_state()


def assert_fully_restored(learn, before):
    model, opt, modes, grads, rng = before
    now = learn.model.state_dict()
    assert now.keys() == model.keys()
    for k, v in model.items():
        assert torch.equal(now[k], v), k
    opt_now = learn.opt.state_dict()
    assert opt_now["param_groups"] == opt["param_groups"]
    assert opt_now["state"].keys() == opt["state"].keys()
    for i, s in opt["state"].items():
        for k, v in s.items():
            assert torch.equal(torch.as_tensor(opt_now["state"][i][k]), torch.as_tensor(v)), (i, k)
    assert [m.training for m in learn.model.modules()] == modes
    for p, g in zip(learn.model.parameters(), grads, strict=True):
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)
    assert torch.equal(torch.get_rng_state(), rng)


def grads_learner():
    learn = bn_learner()
    learn.loss_func(
        learn.model(torch.randn(4, 1)), torch.randn(4, 1)
    ).backward()  # grads the finder must put back
    return learn


@pytest.mark.parametrize("event", ["finally_fit", "after_fit", "after_cancel_fit"])
@pytest.mark.parametrize("fit_error", [None, KeyboardInterrupt, RuntimeError])
def test_restored_when_an_earlier_callback_fails_in_cleanup(event, fit_error):
    """A callback ordered before the finder raises in a cleanup event: everything is restored all the
    same and the callback's error comes out (today: a raise in finally_fit skips the restore)."""
    learn = grads_learner()
    before = full_state(learn)
    learn.add_cb(RaiseIn(event, ValueError(f"cleanup failed in {event}")))
    if fit_error is not None:
        learn.add_cb(RaiseAt(8, fit_error("during the fit")))
    fires = fit_error is None or event == "finally_fit"  # an error (not a cancel) skips after_(cancel_)fit
    expected, match = (ValueError, f"cleanup failed in {event}") if fires else (fit_error, "during the fit")
    with pytest.raises(expected, match=match):
        learn.lr_find(show_plot=False, end_lr=1e3)
    assert_fully_restored(learn, before)
    assert not any(isinstance(cb, LRFinder) for cb in learn.cbs)


def test_later_finally_fit_handlers_all_run_and_the_first_error_comes_out():
    ran = []

    class Log(Callback):
        order = 99

        def finally_fit(self):
            ran.append("late")

    learn = synth_learner()
    learn.add_cbs(
        [RaiseIn("finally_fit", ValueError("first")), RaiseIn("finally_fit", TypeError("second")), Log()]
    )
    with pytest.raises(ValueError, match="first") as info, learn.no_logging():
        learn.fit(1)
    assert ran == ["late"]
    assert "TypeError: second" in "".join(getattr(info.value, "__notes__", []))


def _interrupt_during_restore(learn, how):
    """A load_state_dict post hook (fired inside the finder's restore, after the weights are copied
    back and before the optimizer, grads, modes and RNG are): a second Ctrl-C arrives there."""
    calls = []

    def hook(module, incompatible):
        calls.append(1)
        if len(calls) > 1:
            return
        if how == "signal":
            os.kill(os.getpid(), signal.SIGINT)  # Python runs the handler at the next bytecode: here
            for _ in range(1000):
                pass
        else:
            raise KeyboardInterrupt("second Ctrl-C")

    return learn.model.register_load_state_dict_post_hook(hook), calls


@pytest.fixture
def python_sigint_handler():
    """Python's own SIGINT handler for the test's duration: a process started in the background
    by a non-interactive shell (as some CI runners do) begins with SIGINT ignored, and Python then
    installs no handler of its own."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
@pytest.mark.parametrize("how", ["signal", "raise"])
@pytest.mark.parametrize("first", ["interrupt", "normal"])
def test_a_second_ctrl_c_during_restore_cannot_leave_it_half_done(how, first, python_sigint_handler):
    learn = grads_learner()
    before = full_state(learn)
    if first == "interrupt":
        learn.add_cb(RaiseAt(8, KeyboardInterrupt("first Ctrl-C")))
    handle, calls = _interrupt_during_restore(learn, how)
    try:
        with pytest.raises(KeyboardInterrupt):
            learn.lr_find(show_plot=False)
    finally:
        handle.remove()
    assert calls  # the hook did fire inside the restore
    assert_fully_restored(learn, before)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the deferral is undone


class WithRunningStats(nn.Module):
    """A model whose non-persistent buffer (not in state_dict) changes every training step."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 1)
        self.register_buffer("seen", torch.zeros(3), persistent=False)
        self.register_buffer("kept", torch.zeros(2))

    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.seen += torch.tensor([1.0, x.mean().item(), x.abs().max().item()])
                self.kept += 1.0
        return self.lin(x)


def test_non_persistent_buffers_are_restored():
    learn = Learner(synth_dbunch(), WithRunningStats(), nn.MSELoss(), lr=1e-2)
    with learn.no_logging():
        learn.fit(1)
    seen, kept, seen_obj = learn.model.seen.clone(), learn.model.kept.clone(), learn.model.seen
    assert "seen" not in learn.model.state_dict() and seen[0] == 10  # 10 training batches
    learn.lr_find(show_plot=False)
    assert torch.equal(learn.model.seen, seen) and torch.equal(learn.model.kept, kept)
    assert learn.model.seen is seen_obj  # restored in place


def test_training_state_restores_a_replaced_non_persistent_buffer():
    model = WithRunningStats()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    state = TrainingState(model, opt)
    model.seen = torch.ones(5)  # replaced by a buffer of another shape
    state.restore()
    assert torch.equal(model.seen, torch.zeros(3)) and "seen" in dict(model.named_buffers())


def test_raw_losses_are_read_after_the_backward_pass():
    """A callback that replaces the loss after the backward pass (as distributed training does with
    the mean over ranks) is what the finder records: nothing rewrites its raw losses."""

    class Halve(Callback):
        def after_backward(self):
            self.learn.loss = self.learn.loss.detach() / 2

    class Keep(Callback):
        order = 10

        def after_loss(self):
            self.own.append(self.learn.loss.item())

    keep = Keep()
    keep.own = []
    learn = synth_learner()
    finder = LRFinder(num_it=8, stop_div=False)
    with learn.no_logging():
        learn.fit(1, cbs=[Halve(), keep, finder])
    assert finder.raw_losses == pytest.approx([v / 2 for v in keep.own])


def test_lr_find_reads_each_training_loss_twice_at_most(monkeypatch):
    """The divergence check (after_loss) and the NaN guard read the loss; the Recorder and the
    raw-loss record reuse those reads (``learn.loss_value()``) instead of reading again."""
    learn, reads = synth_learner(), []
    item = torch.Tensor.item
    monkeypatch.setattr(torch.Tensor, "item", lambda t: reads.append(t.grad_fn is not None) or item(t))
    with learn.no_logging():
        learn.lr_find(end_lr=0.1, num_it=10, show_plot=False)
    assert len(learn.recorder.lrs) == 10 and reads.count(True) == 2 * 10
