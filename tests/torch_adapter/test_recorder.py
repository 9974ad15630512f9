"""Recorder plots and curve files; the progress bars."""

import io
import sys

import numpy as np
import pytest

from schedcore import load_curve
from torch_adapter import Callback
from torch_adapter.testing import synth_learner


def fitted(**kwargs):
    learn = synth_learner(**kwargs)
    with learn.no_logging():
        learn.fit_one_cycle(2)
    return learn


@pytest.mark.requires_matplotlib
def test_plots_return_figures():
    import matplotlib.pyplot as plt

    learn = fitted()
    fig = learn.recorder.plot_sched()
    assert [ax.get_ylabel() for ax in fig.axes] == ["lr", "mom"]
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), learn.recorder.hps["lr"])
    ax = learn.recorder.plot_loss(skip_start=2)  # fastai returns the Axes
    assert len(ax.lines) == 2
    np.testing.assert_allclose(ax.lines[0].get_ydata(), learn.recorder.losses[2:])
    plt.close("all")
    plain = synth_learner()
    with plain.no_logging():
        plain.fit(1)
    with pytest.raises(ValueError, match="no hyper-parameter was scheduled"):
        plain.recorder.plot_sched()


@pytest.mark.parametrize("ext", ["csv", "json", "npz"])
def test_save_curve_round_trip(tmp_path, ext):
    learn = fitted()
    path = learn.recorder.save_curve(tmp_path / f"curve.{ext}", num_it=20)
    curve = load_curve(path)
    assert curve.lrs.tolist() == learn.recorder.lrs
    assert curve.losses.tolist() == learn.recorder.losses
    assert curve.num_it == 20 and curve.settings["beta"] == 0.98


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bars_on_in_a_terminal_off_under_no_logging(monkeypatch):
    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    bars = []

    class Spy(Callback):
        order = 70

        def after_batch(self):
            bars.append(self.learn.progress.bar is not None)

    learn = synth_learner(cbs=Spy())
    learn.logger = lambda *a: None
    learn.fit(1)
    assert all(bars) and "epoch" in err.getvalue()
    assert learn.progress.bar is None and learn.progress.epoch_bar is None
    bars.clear()
    with learn.no_logging():
        learn.fit(1)
    assert bars and not any(bars)


def test_bars_count_every_batch_when_logging_returns_between_plain_fits(monkeypatch):
    """Under no_logging the bar's per-batch handler is left out of the index; a later fit with
    logging on (same callbacks, nothing added) indexes it again and the bars count each batch."""
    monkeypatch.setattr(sys, "stderr", FakeTTY())
    counts = []

    class Spy(Callback):
        order = 70  # after the progress callback's update

        def after_batch(self):
            bar = self.learn.progress.bar
            counts.append(None if bar is None else (bar.n, self.learn.iter + 1))

    learn = synth_learner(cbs=Spy())
    learn.logger = lambda *a: None
    with learn.no_logging():
        learn.fit(1)
    assert counts and set(counts) == {None}
    counts.clear()
    learn.fit(1)
    assert len(counts) == 12 and all(n == expected for n, expected in counts)  # 10 training, 2 validation


def test_progress_bars_off_when_not_a_tty_and_closed_on_errors(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    learn = synth_learner()
    learn.logger = lambda *a: None
    learn.fit(1)
    assert sys.stderr.getvalue() == ""

    class Boom(Callback):
        def after_batch(self):
            raise KeyboardInterrupt

    learn = synth_learner()
    learn.progress.enabled = True
    learn.logger = lambda *a: None
    with pytest.raises(KeyboardInterrupt):
        learn.fit(1, cbs=Boom())
    assert learn.progress.bar is None and learn.progress.epoch_bar is None


def test_recorded_losses_equal_schedcore_smooth_losses_with_nan():
    """The Recorder's smoothed losses are schedcore.smooth_losses of the raw losses, NaN included."""
    import math

    import numpy as np

    from schedcore import smooth_losses
    from torch_adapter import Callback

    class Poison(Callback):
        order = 40  # before the Recorder (50) reads the loss

        def after_loss(self):
            if self.learn.training:
                if self.learn.train_iter in (3, 7):
                    self.learn.loss = self.learn.loss * math.nan
                self.raw.append(self.learn.loss.item())

    poison = Poison()
    poison.raw = []
    learn = synth_learner(on_nonfinite="skip")
    with learn.no_logging(), pytest.warns(UserWarning, match="non-finite"):
        learn.fit(1, cbs=poison)
    assert math.isnan(learn.recorder.losses[3]) and math.isfinite(learn.recorder.losses[4])
    np.testing.assert_allclose(learn.recorder.losses, smooth_losses(poison.raw), rtol=1e-12)


def test_reduce_totals_hook_sees_and_replaces_the_validation_totals():
    """The documented hook distributed training uses: totals in, totals out, then averaged."""
    learn = synth_learner()
    plain = learn.validate()[0]
    seen = []

    def add_a_fake_rank(count, sums):
        seen.append((count, list(sums)))
        return count + 4, [sums[0] + 4 * 10.0]  # 4 more items whose loss is 10

    learn.recorder.reduce_totals = add_a_fake_rank
    got = learn.validate()[0]
    count, sums = seen[0]
    assert sums[0] / count == pytest.approx(plain)
    assert got == pytest.approx((sums[0] + 40.0) / (count + 4))


def test_distrib_ctx_is_a_learner_method_not_patched_at_import():
    from torch_adapter.learner import Learner

    assert "distrib_ctx" in vars(Learner) and Learner.distrib_ctx.__module__ == "torch_adapter.learner"


def test_a_progress_subclass_with_its_own_after_batch_is_still_called_without_bars():
    """Only the built-in per-batch bar update is left out when no bar is shown."""
    from torch_adapter import ProgressCallback

    class Counting(ProgressCallback):
        calls = 0

        def after_batch(self):
            Counting.calls += 1
            super().after_batch()

    learn = synth_learner()
    learn.remove_cb(learn.progress)
    learn.add_cb(Counting())
    with learn.no_logging():
        learn.fit(1)
    assert Counting.calls == 12  # 10 training batches, 2 validation
    assert "after_batch" in ProgressCallback().handlers(True)  # unattached: nothing to decide from, kept
