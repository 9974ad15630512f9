"""``descent``: the pooled suggester tuned on the suggestion benchmark (benchmarks/suggest_quality)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedcore import SuggestionWarning, descent, suggest_lrs, valley

LRS = 10.0 ** np.arange(-6, 3)  # 9 points, a decade apart
CURVE = np.array([2.0, 1.9, 1.7, 1.2, 0.8, 0.6, 0.7, 1.5, 3.0])


def expected(lrs, y, done=0.8, back=0.5):
    """The rule written out on one curve: first point within (1 - done) of the drop to the minimum."""
    i = int(np.argmin(y))
    top = max(y[: i + 1])
    j = next(k for k in range(i + 1) if y[k] <= y[i] + (1 - done) * (top - y[i]))
    return lrs[j] * 10.0**-back


def test_closed_form_on_one_curve():
    # drop 2.0 -> 0.6 (min at 1e-1); 80% done at 0.6 + 0.2 * 1.4 = 0.88: first at 1e-2 (0.8)
    s, (x, y) = descent(LRS, CURVE)
    assert s == pytest.approx(1e-2 * 10**-0.5)
    assert x == s and y == pytest.approx(np.interp(np.log10(s), np.log10(LRS), CURVE))
    assert descent(LRS, CURVE, done=0.5)[0] == pytest.approx(1e-3 * 10**-0.5)  # 1.3 threshold: 1.2 at 1e-3
    assert descent(LRS, CURVE, back=0.0)[0] == pytest.approx(1e-2)
    assert descent(LRS, CURVE, done=1.0, back=1.0)[0] == pytest.approx(1e-2)  # the minimum / 10


def test_an_affine_change_of_the_loss_changes_nothing():
    assert descent(LRS, 3.0 * CURVE - 7.0)[0] == pytest.approx(descent(LRS, CURVE)[0])


def test_runs_are_pooled_by_the_median():
    odd = CURVE[::-1]  # its own suggestion is far away
    assert descent(LRS, odd)[0] != pytest.approx(descent(LRS, CURVE)[0])
    with pytest.warns(SuggestionWarning, match=r"descent: the 3 runs disagree: .* spread over 2 decades"):
        s = descent(LRS, np.stack([CURVE, CURVE + 0.05, odd]))[0]
    # median of (CURVE, CURVE + 0.05, odd) at each lr is CURVE + 0.05 or CURVE or odd -- point by point
    pooled = np.median(np.stack([CURVE, CURVE + 0.05, odd]), axis=0)
    assert s == pytest.approx(expected(LRS, pooled))


def test_a_run_that_stopped_counts_as_diverged_after_its_end():
    short = np.r_[CURVE[:4], [np.nan] * 5]  # stopped after 4 points
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # agreeing runs: no warning
        s = descent(LRS, np.stack([CURVE, CURVE, short]))[0]
    # median of (y, y, +inf) is y everywhere: the same as the full curve alone
    assert s == pytest.approx(descent(LRS, CURVE)[0])
    # with two runs of three stopped early, the pooled curve ends where they ended
    s2 = descent(LRS, np.stack([CURVE, short, short]), spread_warn=10)[0]
    assert s2 == pytest.approx(expected(LRS[:4], CURVE[:4]))


def test_spread_warning_threshold():
    runs = np.stack([CURVE, np.r_[CURVE[1:], 4.0]])  # the second is the first shifted a decade left
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        descent(LRS, runs, spread_warn=1.0)  # exactly 1 decade: no warning
    with pytest.warns(SuggestionWarning, match="spread over 1 decades"):
        descent(LRS, runs, spread_warn=0.5)


def test_unusable_runs_are_left_out_with_a_warning():
    bad = CURVE.copy()
    bad[3] = np.nan  # NaN inside
    with pytest.warns(SuggestionWarning, match="descent: cannot use 1 of 2 curves"):
        s = descent(LRS, np.stack([CURVE, bad]))[0]
    assert s == pytest.approx(descent(LRS, CURVE)[0])
    with pytest.warns(SuggestionWarning, match="descent: cannot use this curve: NaN inside"):
        s, (x, y) = descent(LRS, bad)
    assert np.isnan(s) and np.isnan(x) and np.isnan(y)
    # a loss that never decreases is usable but a poor guide (as for the other suggesters): the
    # lowest point is the first, so the suggestion is the first lr, half a decade lower
    with pytest.warns(SuggestionWarning, match="descent: the loss never decreases .* a poor guide"):
        s, (x, y) = descent(LRS, np.arange(9.0))
    assert s == pytest.approx(LRS[0] * 10**-0.5) and y == 0.0


def test_different_lr_axes_are_merged():
    lrs2 = np.stack([LRS, LRS * 10**0.5])  # the second run is half a decade to the right
    s = descent(lrs2, np.stack([CURVE, CURVE]), spread_warn=10)[0]
    assert np.isfinite(s) and LRS[0] * 10**-0.5 <= s <= LRS[-1] * 10**0.5


@pytest.mark.parametrize(
    "kwargs, match",
    [({"done": 0.0}, "done must be a finite number > 0 and <= 1; got 0.0"), ({"done": 1.5}, r"done must .*; got 1.5"),
     ({"back": float("nan")}, r"back must be a number in \[-20, 20\]; got nan"), ({"back": -309.0}, r"back must be a number in \[-20, 20\]; got -309.0"),
     ({"spread_warn": -1.0}, "spread_warn must be a finite number >= 0; got -1.0")],
)  # fmt: skip
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        descent(LRS, CURVE, **kwargs)
    with pytest.raises(TypeError, match="done must be a number; got True"):
        descent(LRS, CURVE, done=True)


def test_by_name_in_suggest_lrs():
    s = suggest_lrs(LRS, CURVE, funcs=(valley, descent), trim=False)
    assert s._fields == ("valley", "descent") and s.descent == pytest.approx(descent(LRS, CURVE)[0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.1, 10.0), min_size=3, max_size=40), st.floats(0.05, 1.0))
def test_properties(ys, done):
    """A grid lr times 10**-back, at or below the minimum's lr; unchanged by repeating the run."""
    y = np.r_[ys[0] + 1.0, ys]  # starts with a decrease
    lrs = np.geomspace(1e-6, 1.0, len(y))
    s = descent(lrs, y, done=done)[0]
    k = np.argmin(np.abs(np.log10(lrs) - np.log10(s) - 0.5))
    assert s == pytest.approx(lrs[k] * 10**-0.5) and lrs[k] <= lrs[np.argmin(y)]
    assert descent(lrs, np.stack([y, y, y]), done=done)[0] == pytest.approx(s)
