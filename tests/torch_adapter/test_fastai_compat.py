"""fastai code ports by changing imports: the Learner/callback surface a fastai user touches.

Each test states what fastai 2.8.12 does (read from a scratch install, ``fastai.test_utils``'s
``synth_learner``); the behaviour is what we match, the code and tests are ours.
"""

import functools
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from schedcore import SuggestionWarning, annealer, combine_scheds, minimum, steep, trim_curve, valley
from torch_adapter import (
    SGD,
    Adam,
    Callback,
    Learner,
    ParamScheduler,
    ProgressCallback,
    Recorder,
    RMSProp,
    get_hyper,
    set_hyper,
)
from torch_adapter.testing import RegModel, synth_dbunch, synth_learner


def mse(pred, targ):
    return ((pred - targ) ** 2).mean()


# ------------------------------------------------------------------- callbacks read the learner
def test_callback_reads_learner_attributes_as_its_own():
    """fastai: inside a handler ``self.model``, ``self.opt``, ``self.epoch``, ... are the learner's."""
    seen = []

    class Peek(Callback):
        def after_batch(self):
            if self.training:
                seen.append(
                    (self.model is self.learn.model, self.opt is self.learn.opt, self.epoch, self.iter,
                     self.train_iter, self.pct_train, self.loss is self.learn.loss, self.xb is self.learn.xb,
                     self.n_epoch, self.dls is self.learn.dls)
                )  # fmt: skip

    learn = synth_learner(n_trn=2)
    with learn.no_logging():
        learn.fit(2, cbs=Peek())
    assert [s[:2] for s in seen] == [(True, True)] * 4
    assert [s[2:4] for s in seen] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # train_iter and pct_train are read after the Learner's increment (fastai: 1, .25, ...)
    assert [s[4] for s in seen] == [1, 2, 3, 4]
    assert [s[5] for s in seen] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert all(s[6:8] == (True, True) and s[8] == 2 and s[9] for s in seen)


def test_callback_assignment_sets_its_own_attribute_and_learn_x_sets_the_learners():
    class Setter(Callback):
        def before_fit(self):
            self.epoch = "mine"  # the callback's own attribute, not the learner's
            self.learn.custom = 42

    cb = Setter()
    learn = synth_learner(cbs=cb)
    with learn.no_logging():
        learn.fit(1)
    assert cb.epoch == "mine" and learn.epoch == 0
    assert learn.custom == 42 and cb.custom == 42  # read through the learner


def test_callback_missing_attribute_error_names_it():
    learn = synth_learner()
    with pytest.raises(AttributeError, match="'Recorder' object has no attribute 'nothing_here'"):
        _ = learn.recorder.nothing_here
    with pytest.raises(AttributeError, match="'Callback' object has no attribute 'model'"):
        _ = Callback().model  # not attached to a learner
    assert hasattr(learn, "_handlers") and not hasattr(learn.recorder, "_handlers")  # "_" names stay put


def test_callback_handlers_are_only_its_own():
    """Forwarding reads must not turn a learner/model attribute into an event handler."""

    class Quiet(Callback):
        pass

    learn = synth_learner()
    learn.model.after_batch = lambda: 1 / 0  # a model attribute named like an event
    learn.add_cb(Quiet())
    assert learn.quiet.handlers(True) == {}
    with learn.no_logging():
        learn.fit(1)


def test_learner_reads_missing_attributes_from_the_model():
    """fastai: ``learn.a`` is ``learn.model.a`` for ``RegModel``."""
    learn = synth_learner()
    assert learn.a is learn.model.a and learn.b is learn.model.b
    with pytest.raises(AttributeError, match="no attribute 'zzz' \\(nor has its model, a RegModel\\)"):
        _ = learn.zzz


def test_callback_name_may_shadow_a_model_attribute():
    class A(Callback):
        pass

    learn = synth_learner().add_cb(A())
    assert isinstance(learn.a, A) and isinstance(learn.model.a, nn.Parameter)
    learn.remove_cb(A)
    assert learn.a is learn.model.a


# --------------------------------------------------------------------------------- metrics=
def test_metrics_accepts_a_single_function():
    """fastai: ``metrics=mse`` is ``[mse]``; the recorded row gains one column."""
    learn = synth_learner(metrics=mse)
    assert learn.metrics == [mse]
    with learn.no_logging():
        learn.fit(1)
    assert len(learn.recorder.values[-1]) == 3  # train_loss, valid_loss, mse
    assert learn.recorder.values[-1][2] == pytest.approx(learn.recorder.values[-1][1], rel=1e-5)


# ----------------------------------------------------------------------- add_cb / remove_cb
def test_callback_management_is_chainable_and_keeps_insertion_order():
    """fastai: add_cb/add_cbs/remove_cb/remove_cbs return the learner; ``cbs`` keeps the order
    of addition (fastai lists ``[..., A, B]`` after adding A then B, whatever their ``order``)."""
    calls = []

    class A(Callback):
        order = 10

        def before_fit(self):
            calls.append("A")

    class B(Callback):
        order = -5

        def before_fit(self):
            calls.append("B")

    learn = synth_learner()
    assert learn.add_cb(A()) is learn and learn.add_cbs([B]) is learn
    assert [type(c).__name__ for c in learn.cbs] == ["Recorder", "ProgressCallback", "A", "B"]
    with learn.no_logging():
        learn.fit(1)
    assert calls == ["B", "A"]  # run order is still by ``order``
    assert learn.remove_cb(A) is learn and learn.remove_cbs([learn.b]) is learn
    assert [type(c).__name__ for c in learn.cbs] == ["Recorder", "ProgressCallback"]


# ----------------------------------------------------------------------------- empty fits
def event_log():
    events = []

    class Events(Callback):
        def before_fit(self):
            events.append("before_fit")

        def before_epoch(self):
            events.append("before_epoch")

        def after_fit(self):
            events.append("after_fit")

    return events, Events()


def test_fit_zero_epochs_is_a_no_op():
    """fastai: ``fit(0)`` fires before_fit and after_fit, trains nothing."""
    learn = synth_learner()
    a = learn.model.a.detach().clone()
    events, cb = event_log()
    with learn.no_logging():
        learn.fit(0, cbs=cb)
    assert events == ["before_fit", "after_fit"]
    assert torch.equal(learn.model.a, a) and learn.train_iter == 0


def test_fit_with_start_epoch_equal_to_n_epoch_is_a_no_op():
    """fastai: ``fit(3, start_epoch=3)`` trains no batch (it fires three cancelled epochs;
    we fire none: the fit's events only, see docs/fastai_compat.md)."""
    learn = synth_learner()
    a = learn.model.a.detach().clone()
    events, cb = event_log()
    with learn.no_logging():
        learn.fit(3, start_epoch=3, cbs=cb)
        learn.fit_one_cycle(3, start_epoch=3)
    assert events == ["before_fit", "after_fit"]
    assert torch.equal(learn.model.a, a) and learn.recorder.hps == {"lr": [], "mom": []}


def test_fine_tune_without_freeze_epochs():
    """fastai: ``fine_tune(1, freeze_epochs=0)`` runs only the unfrozen one-cycle epoch, at
    ``slice(base_lr/2/lr_mult, base_lr/2)`` with ``div=5``: the last group starts at 1e-3/5."""
    learn = synth_learner(n_trn=10)
    with learn.no_logging():
        learn.fine_tune(1, freeze_epochs=0)
    assert learn.n_epoch == 1 and len(learn.recorder.hps["lr"]) == 10
    assert learn.recorder.hps["lr"][0] == pytest.approx(2e-4)
    assert all(p.requires_grad for p in learn.model.parameters())


# ------------------------------------------------------------------------------------ load
def test_load_without_optimizer_state_leaves_a_usable_optimizer(tmp_path):
    """fastai: ``load`` creates the optimizer when there is none, whatever ``with_opt`` says."""
    learn = synth_learner(path=tmp_path)
    learn.create_opt()
    learn.save("m")
    other = synth_learner(path=tmp_path).load("m", with_opt=False)
    assert isinstance(other.opt, torch.optim.Optimizer) and not other.opt.state
    assert torch.equal(other.model.a, learn.model.a)
    with other.no_logging():
        other.fit(1, lr=1e-2)  # and it trains
    assert not torch.equal(other.model.a, learn.model.a)


# ---------------------------------------------------------------------------------- no_bar
def test_no_bar_takes_the_progress_callback_out_for_the_block():
    learn = synth_learner()
    with learn.no_bar() as same:
        assert same is learn and not any(isinstance(c, ProgressCallback) for c in learn.cbs)
        assert not hasattr(learn, "progress")
    assert isinstance(learn.progress, ProgressCallback) and learn.progress.learn is learn
    assert [type(c) for c in learn.cbs] == [Recorder, ProgressCallback]


def test_learner_with_plain_model_and_single_metric_trains():
    """The fastai port idiom: ``Learner(dls, model, loss_func=..., metrics=f)``."""
    learn = Learner(synth_dbunch(), RegModel(), loss_func=nn.MSELoss(), metrics=mse)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1)
    assert len(learn.recorder.values) == 1


# ---------------------------------------------------------- schedules given as plain functions
def lin_down(pos):
    return 0.1 * (1 - pos)


class Half:
    def __call__(self, pos):
        return 0.05 + 0.0 * pos


@annealer
def sched_step(start, end, pos):
    if pos < 0.5:  # written for one float, the fastai way
        return start
    return end


# fastai: ParamScheduler({'lr': f}) over fit(2) of 2 batches records these lrs
PLAIN = [
    (lambda p: 0.1 * (1 - p), [0.1, 0.075, 0.05, 0.025]),
    (lin_down, [0.1, 0.075, 0.05, 0.025]),
    (functools.partial(lambda k, p: k * p, 0.2), [0.0, 0.05, 0.1, 0.15]),
    (Half(), [0.05, 0.05, 0.05, 0.05]),
    (sched_step(0.1, 0.01), [0.1, 0.1, 0.01, 0.01]),
    (combine_scheds([0.25, 0.75], [lambda p: 0.01 + 0.09 * p, sched_step(0.1, 0.01)]), [0.01, 0.1, 0.1, 0.01]),
]


@pytest.mark.parametrize("sched, expected", PLAIN, ids=["lambda", "def", "partial", "object", "annealer", "combine"])
def test_param_scheduler_takes_plain_functions(sched, expected):
    learn = synth_learner(n_trn=2)
    with learn.no_logging():
        learn.fit(2, cbs=ParamScheduler({"lr": sched}))
    assert learn.recorder.hps["lr"] == pytest.approx(expected, rel=1e-12)
    assert learn.recorder.lrs == pytest.approx(expected, rel=1e-12)


def test_param_scheduler_per_group_list_of_plain_functions():
    model = nn.Sequential(nn.Linear(1, 2), nn.Linear(2, 1))
    learn = Learner(synth_dbunch(n_train=2), model, nn.MSELoss(), splitter=lambda m: [m[0].parameters(), m[1].parameters()])
    seen = []

    class Watch(Callback):
        order = 70  # after the scheduler

        def before_batch(self):
            if self.training:
                seen.append([g["lr"] for g in self.opt.param_groups])

    with learn.no_logging():
        learn.fit(2, cbs=[ParamScheduler({"lr": [lin_down, sched_step(0.1, 0.01)]}), Watch()])
    np.testing.assert_allclose(seen, [[0.1, 0.1], [0.075, 0.1], [0.05, 0.01], [0.025, 0.01]], rtol=1e-12)


def test_param_scheduler_evaluates_a_scalar_only_function_once_per_step_at_before_fit():
    """One table per fit: the vectorised try, then one call per step -- none while training."""
    calls = []

    def scalar_only(p):
        calls.append(np.ndim(p))
        return 0.1 * math.cos(p)

    class Mark(Callback):
        def before_train(self):
            calls.append("train")

    learn = synth_learner(n_trn=3)
    with learn.no_logging():
        learn.fit(2, cbs=[ParamScheduler({"lr": scalar_only}), Mark()])
    assert calls == [1] + [0] * 6 + ["train", "train"]
    assert learn.recorder.hps["lr"] == pytest.approx([0.1 * math.cos(k / 6) for k in range(6)])


# ----------------------------------------------------------------------- lr_find, suggesters
def quiet_lr_find(learn, **kwargs):
    with learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter("ignore", SuggestionWarning)
        return learn.lr_find(show_plot=False, **kwargs)


def test_lr_find_suggest_funcs_single_function():
    """fastai: ``suggest_funcs=valley`` gives ``SuggestedLRs`` with the one field ``valley``."""
    learn = synth_learner(n_trn=5)
    s = quiet_lr_find(learn, suggest_funcs=valley)
    assert s._fields == ("valley",) and s.valley > 0
    assert quiet_lr_find(learn, suggest_funcs=(valley, minimum))._fields == ("valley", "minimum")
    with pytest.raises(TypeError, match="suggest_funcs must be a function, a sequence of functions or None"):
        quiet_lr_find(learn, suggest_funcs=[valley, "steep"])


def test_lr_find_suggest_funcs_none_returns_none():
    """fastai: ``suggest_funcs=None`` runs the test and returns None."""
    learn = synth_learner(n_trn=5)
    assert quiet_lr_find(learn, suggest_funcs=None) is None
    assert 0 < len(learn.recorder.lrs) <= 100


def test_user_suggester_receives_torch_tensors():
    """fastai passes ``lrs``/``losses`` as float32 tensors (``tensor(list)``) and ``num_it``;
    schedcore's own suggesters keep getting numpy arrays."""
    seen = []

    def mine(lrs, losses, num_it):
        seen.append((type(lrs), lrs.dtype, type(losses), losses.dtype, num_it))
        g = (losses[1:] - losses[:-1]) / (lrs[1:].log() - lrs[:-1].log())
        i = int(g.argmin())
        return lrs[i], (lrs[i], losses[i])

    learn = synth_learner(n_trn=5)
    s = quiet_lr_find(learn, num_it=30, suggest_funcs=(mine, steep))
    assert seen == [(torch.Tensor, torch.float32, torch.Tensor, torch.float32, 30)]
    lrs, losses = trim_curve(learn.recorder.lrs, learn.recorder.losses, 30)
    lrs_t, losses_t = torch.tensor(lrs.tolist()), torch.tensor(losses.tolist())
    i = int(((losses_t[1:] - losses_t[:-1]) / (lrs_t[1:].log() - lrs_t[:-1].log())).argmin())
    assert s._fields == ("mine", "steep") and isinstance(s.mine, float) and s.mine == float(lrs_t[i])


def test_user_suggester_partial_and_callable_object_names():
    class Fixed:
        def __call__(self, lrs, losses, num_it):
            return lrs[0], (lrs[0], losses[0])

    def scaled(lrs, losses, num_it, k=1.0):
        return k * lrs[-1], (lrs[-1], losses[-1])

    learn = synth_learner(n_trn=5)
    s = quiet_lr_find(learn, num_it=20, suggest_funcs=(Fixed(), functools.partial(scaled, k=0.5)))
    assert s._fields == ("Fixed", "scaled")
    lrs, _ = trim_curve(learn.recorder.lrs, learn.recorder.losses, 20)
    assert s.Fixed == pytest.approx(lrs[0], rel=1e-6) and s.scaled == pytest.approx(0.5 * lrs[-1], rel=1e-6)


def test_lr_find_num_it_below_six_is_raised_to_six():
    """fastai: ``lr_find(num_it=5)`` records 6 lrs (its minimum) and does not refuse."""
    learn = synth_learner(n_trn=5)
    assert quiet_lr_find(learn, num_it=5, suggest_funcs=None) is None
    assert len(learn.recorder.lrs) == 6
    with pytest.raises(ValueError, match="num_it must be an integer >= 6; got 2.5"):
        quiet_lr_find(learn, num_it=2.5)


# ---------------------------------------------------------------------------------- plots
def test_plot_loss_takes_fastais_arguments():
    """fastai: plot_loss(skip_start=5, with_valid=True, log=False, show_epochs=False, ax=None)
    returns the Axes; train from step skip_start, valid at each epoch's end, axvline per epoch."""
    import matplotlib.pyplot as plt

    learn = synth_learner(n_trn=4)
    with learn.no_logging():
        learn.fit(3)
    rec = learn.recorder
    ax = rec.plot_loss()
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("steps", "loss", "learning curve")
    assert list(ax.lines[0].get_xdata()) == list(range(5, 12)) and list(ax.lines[0].get_ydata()) == rec.losses[5:]
    assert list(ax.lines[1].get_xdata()) == [8, 12] and list(ax.lines[1].get_ydata()) == [v[1] for v in rec.values[1:]]
    fig, mine = plt.subplots()
    ax = rec.plot_loss(skip_start=0, with_valid=False, log=True, show_epochs=True, ax=mine)
    assert ax is mine and (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert len(ax.lines) == 1 + 3  # train + one dotted line per epoch end
    assert [line.get_xdata()[0] for line in ax.lines[1:]] == [4, 8, 12]
    plt.close("all")


def test_recorder_plot_lr_find():
    """fastai: recorder.plot_lr_find(skip_end=5, return_fig=True, suggestions=None, nms=None)."""
    import matplotlib.pyplot as plt

    learn = synth_learner(n_trn=5)
    quiet_lr_find(learn, num_it=30, suggest_funcs=None)
    fig = learn.recorder.plot_lr_find()
    line = fig.axes[0].lines[0]
    assert list(line.get_xdata()) == learn.recorder.lrs[:-5] and fig.axes[0].get_xscale() == "log"
    fig = learn.recorder.plot_lr_find(skip_end=0, suggestions=[(1e-3, 2.0)], nms=["mine"])
    assert len(fig.axes[0].lines[0].get_xdata()) == len(learn.recorder.lrs)
    assert [t.get_text().split(":")[0] for t in fig.axes[0].get_legend().get_texts()] == ["mine"]
    assert learn.recorder.plot_lr_find(return_fig=False) is None
    plt.close("all")


# ------------------------------------------------------------------ optimizer factories
def three_steps(make, mom_sched=None):
    """Three steps on ``sum(c * p**2)`` from ``p = [1, -2]``, ``c = [1, 3]``."""
    p = torch.tensor([1.0, -2.0], requires_grad=True)
    opt = make([p])
    for k in range(3):
        if mom_sched is not None:
            set_hyper(opt, "mom", mom_sched[k])
        (p**2 * torch.tensor([1.0, 3.0])).sum().backward()
        opt.step()
        opt.zero_grad()
    return p.tolist()


# fastai 2.8.12's fastai.optimizer.SGD/RMSProp/Adam on the same three steps
FASTAI_STEPS = [
    ("SGD decoupled wd", lambda ps: SGD(ps, lr=0.1, wd=0.1), None, [0.493039012, -0.1186380088]),
    ("SGD L2", lambda ps: SGD(ps, lr=0.1, wd=0.1, decouple_wd=False), None, [0.493039012, -0.118637979]),
    ("SGD mom=0, scheduled mom unused", lambda ps: SGD(ps, lr=0.1), [0.9] * 3, [0.5119999647, -0.1279999763]),
    ("SGD mom=.9 wd", lambda ps: SGD(ps, lr=0.1, mom=0.9, wd=0.1), None, [0.0466389842, 1.695761919]),
    ("RMSProp", lambda ps: RMSProp(ps, lr=0.01), None, [0.7799822688, -1.7753494978]),
    ("RMSProp decoupled wd", lambda ps: RMSProp(ps, lr=0.01, wd=0.1), None, [0.7773592472, -1.769724369]),
    ("Adam", lambda ps: Adam(ps, lr=0.1), None, [0.6988227367, -1.6949009895]),
    ("Adam L2", lambda ps: Adam(ps, lr=0.1, decouple_wd=False), None, [0.7014986873, -1.7005805969]),
]


@pytest.mark.parametrize("name, make, mom_sched, expected", FASTAI_STEPS, ids=[f[0] for f in FASTAI_STEPS])
def test_optimizer_factories_step_like_fastai(name, make, mom_sched, expected):
    np.testing.assert_allclose(three_steps(make, mom_sched), expected, rtol=1e-6, atol=1e-7)


def test_optimizer_factories_keep_fastais_defaults_and_hyper_names():
    p = [torch.zeros(1, requires_grad=True)]
    assert get_hyper(Adam(p, lr=1e-3), "mom") == [0.9] and get_hyper(Adam(p, lr=1e-3), "sqr_mom") == [0.99]
    assert get_hyper(Adam(p, lr=1e-3), "eps") == [1e-5] and get_hyper(Adam(p, lr=1e-3), "wd") == [0.01]
    assert get_hyper(RMSProp(p, lr=1e-3), "sqr_mom") == [0.99] and get_hyper(RMSProp(p, lr=1e-3), "eps") == [1e-8]
    assert get_hyper(SGD(p, lr=1e-3), "mom") == [0.0] and get_hyper(SGD(p, lr=1e-3), "wd") == [0.0]
    assert isinstance(SGD(p), torch.optim.SGD) and isinstance(RMSProp(p), torch.optim.RMSprop)


@pytest.mark.parametrize("opt_func", [SGD, Adam, RMSProp])
def test_learner_with_fastai_opt_func_fits_one_cycle(opt_func):
    learn = synth_learner(opt_func=opt_func, lr=1e-2)
    before = learn.model.a.detach().clone()
    with learn.no_logging():
        learn.fit_one_cycle(1)
    assert sorted(learn.recorder.hps) == ["lr", "mom"] and learn.recorder.hps["mom"][0] == pytest.approx(0.95)
    assert not torch.equal(learn.model.a, before)
