"""``lr_find(suggest_funcs=(..., descent))``: the benchmark's pooled suggester by name in lr_find."""

import warnings

import numpy as np
import pytest

from schedcore import descent, trim_curve, valley
from schedcore.suggest import SuggestionWarning
from torch_adapter.testing import synth_learner


def test_lr_find_suggests_descent_by_name():
    learn = synth_learner()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SuggestionWarning)
        s = learn.lr_find(show_plot=False, suggest_funcs=(valley, descent))
    assert s._fields == ("valley", "descent")
    lrs, losses = trim_curve(learn.recorder.lrs, learn.recorder.losses, 100)
    assert np.isfinite(s.descent) and s.descent == pytest.approx(descent(lrs, losses)[0])
