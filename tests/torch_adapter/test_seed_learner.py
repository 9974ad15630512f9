"""The Learner/scheduling examples of the seed document (fastai's callback.schedule page).

Each test body is the seed's example with only the imports changed.
"""

import tempfile
from pathlib import Path

import numpy as np
import pytest

from schedcore import SchedCos, SchedLin, combined_cos
from torch_adapter import ParamScheduler
from torch_adapter.testing import synth_learner, test_close, test_eq


def test_param_scheduler_lin():
    learn = synth_learner()
    sched = {"lr": SchedLin(1e-3, 1e-2)}
    learn.fit(1, cbs=ParamScheduler(sched))
    n = len(learn.dls.train)
    test_close(learn.recorder.hps["lr"], [1e-3 + (1e-2 - 1e-3) * i / n for i in range(n)])


def test_fit_one_cycle_lowers_loss_and_records_hps():
    learn = synth_learner(lr=1e-2)
    xb, yb = learn.dls.one_batch()
    init_loss = learn.loss_func(learn.model(xb), yb)
    learn.fit_one_cycle(2)
    xb, yb = learn.dls.one_batch()
    final_loss = learn.loss_func(learn.model(xb), yb)
    assert final_loss < init_loss

    lrs, moms = learn.recorder.hps["lr"], learn.recorder.hps["mom"]
    test_close(lrs, [combined_cos(0.25, 1e-2 / 25, 1e-2, 1e-7)(i / 20) for i in range(20)])
    test_close(moms, [combined_cos(0.25, 0.95, 0.85, 0.95)(i / 20) for i in range(20)])


def _cos(a, b, t):
    return a + (b - a) * (1 - np.cos(np.pi * t)) / 2


def _plotted(fig):
    """{y label: (x, y)} of the one line in each axes of a plot_sched figure."""
    return {ax.get_ylabel(): tuple(map(np.asarray, ax.lines[0].get_data())) for ax in fig.axes}


@pytest.mark.requires_matplotlib
def test_fit_one_cycle_and_plot_sched():
    learn = synth_learner()
    learn.fit_one_cycle(2)
    n = 2 * len(learn.dls.train)
    p, lr = np.arange(n) / n, learn.lr  # step k of n is at k/n; defaults div=25, div_final=1e5
    warm, anneal = p < 0.25, (p - 0.25) / 0.75
    lrs = np.where(warm, _cos(lr / 25, lr, p / 0.25), _cos(lr, lr / 1e5, anneal))
    moms = np.where(warm, _cos(0.95, 0.85, p / 0.25), _cos(0.85, 0.95, anneal))
    plotted = _plotted(learn.recorder.plot_sched())
    assert list(plotted) == ["lr", "mom"]
    for key, expected in (("lr", lrs), ("mom", moms)):
        x, y = plotted[key]
        np.testing.assert_array_equal(x, np.arange(n))
        np.testing.assert_allclose(y, expected, rtol=1e-6)
        np.testing.assert_allclose(learn.recorder.hps[key], expected, rtol=1e-6)


@pytest.mark.requires_matplotlib
def test_fit_flat_cos_and_plot_sched():
    learn = synth_learner()
    learn.fit_flat_cos(2)
    n = 2 * len(learn.dls.train)
    p, lr = np.arange(n) / n, learn.lr  # flat until pct_start=0.75, then a cosine to lr/1e5
    lrs = np.where(p < 0.75, lr, _cos(lr, lr / 1e5, (p - 0.75) / 0.25))
    plotted = _plotted(learn.recorder.plot_sched())
    assert list(plotted) == ["lr"]  # flat_cos schedules no momentum
    np.testing.assert_array_equal(plotted["lr"][0], np.arange(n))
    np.testing.assert_allclose(plotted["lr"][1], lrs, rtol=1e-6)


@pytest.mark.requires_matplotlib
def test_fit_sgdr_and_fine_tune():
    learn = synth_learner()
    with learn.no_logging():
        learn.fit_sgdr(3, 1)
    test_eq(learn.n_epoch, 7)
    iters = [k * len(learn.dls.train) for k in [0, 1, 3, 7]]
    for i in range(3):
        n = iters[i + 1] - iters[i]
        # The start of a cycle can be mixed with the 0 of the previous cycle with rounding errors, so we test at +1
        test_close(
            learn.recorder.lrs[iters[i] + 1 : iters[i + 1]],
            [SchedCos(learn.lr, 0)(k / n) for k in range(1, n)],
        )
    learn.recorder.plot_sched()

    learn.fine_tune(1)


def test_synth_learner_with_path():
    with tempfile.TemporaryDirectory() as d:
        learn = synth_learner(path=Path(d))
        assert learn.path == Path(d)
