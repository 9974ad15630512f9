"""Suggesters and diagnose against formulas written out here: unevenly spaced lrs (where
dividing and multiplying by the log-lr step differ), diagnose's thresholds at their
boundaries, and the vectorised LDS on ragged batches of 128 curves or more."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from schedcore.suggest import SuggestionWarning, diagnose, minimum, slide, steep, valley

from .suggest_reference import ref_valley

PROPS = settings(deadline=None)  # examples and seed: the profile (conftest.py)


@st.composite
def uneven_curves(draw, min_size=2, max_size=40):
    """Positive increasing lrs with log-steps that differ by up to 100x, and any losses."""
    n = draw(st.integers(min_size, max_size))
    steps = np.array(draw(st.lists(st.floats(0.01, 1.0), min_size=n, max_size=n)))
    losses = np.array(draw(st.lists(st.floats(0.0, 10.0), min_size=n, max_size=n)))
    assume(np.any(np.diff(losses) < 0))
    return 10.0 ** (np.cumsum(steps) - 6), losses


# ------------------------------------------------------------------------------------- steep


def test_steep_divides_by_the_log_lr_step():
    """Slopes per unit of log(lr): -1/ln 10, -0.1/ln 1.1, -3.9/ln(1/0.011): the second is steepest.
    (Multiplying by the step instead would pick the third.)"""
    lrs, losses = [1e-3, 1e-2, 1.1e-2, 1.0], [5.0, 4.0, 3.9, 0.0]
    assert steep(lrs, losses) == (1e-2, (1e-2, 4.0))


@PROPS
@given(uneven_curves())
def test_steep_is_argmin_of_slope_over_log_step(curve):
    lrs, losses = curve
    slope = np.diff(losses) / np.diff(np.log(lrs))
    i = int(np.argmin(slope))
    assert steep(lrs, losses) == (lrs[i], (lrs[i], losses[i]))


# ---------------------------------------------------------------------- slide's interpolated y


def test_slide_y_interpolates_on_log_lr_between_uneven_knots():
    """With adjust_value the suggestion falls between knots 1e-3 and 1e-1 (two decades apart):
    y = 2 + (1 - 2) * (log10(s) - (-3)) / 2."""
    lrs, losses = [1e-4, 1e-3, 1e-1, 2e-1, 1.0], [3.0, 2.0, 1.0, 1.5, 4.0]
    s, (x, y) = slide(lrs, losses, lr_diff=2, thresh=1.0, adjust_value=10.0)
    assert s == x == pytest.approx(1e-2)
    assert y == pytest.approx(2.0 - (math.log10(s) + 3) / 2, rel=1e-12)


@PROPS
@given(uneven_curves(min_size=4), st.floats(0.05, 20.0), st.integers(0, 3))
def test_slide_y_is_np_interp_on_log_lr(curve, adjust, lr_diff):
    lrs, losses = curve
    s, (x, y) = slide(lrs, losses, lr_diff=lr_diff, thresh=0.5, adjust_value=adjust)
    assert s == x
    assert y == pytest.approx(np.interp(np.log10(s), np.log10(lrs), losses), rel=1e-9, abs=1e-12)


# ----------------------------------------------------------------------------------- diagnose

LRS20 = np.geomspace(1e-5, 1, 20)


def test_noise_estimate_at_the_threshold():
    """A line from 2 to 1 plus +-e: second differences are +-4e, so the robust noise is
    1.4826 * 4e / sqrt(6); the drop is y[0] - y[19] = (2 + e) - (1 - e)."""
    e = 0.01
    y = 2 - np.arange(20) / 19 + e * (-1.0) ** np.arange(20)
    sigma, drop = 1.4826 * 4 * e / math.sqrt(6), 1 + 2 * e
    below, above = sigma / drop * 0.99, sigma / drop * 1.01
    assert diagnose(LRS20, y, noise_ratio=below).warnings == (f"too noisy: estimated noise {sigma:.3g} vs. loss drop {drop:.3g}",)
    assert diagnose(LRS20, y, noise_ratio=above).ok
    assert diagnose(LRS20, np.arange(20.0, 0.0, -1), noise_ratio=0.0).ok  # an exact straight line has no noise


@pytest.mark.parametrize(
    "losses, lowest",
    [
        (np.r_[5.0, 1.0, np.arange(2.0, 10.0)], 1),  # n = 10: points 0 and 1 are "early"
        (np.r_[5.0, 4.0, 3.0, 1.0, np.linspace(2, 9, 36)], 3),  # n = 40: the first 40 // 10 = 4 points
    ],
)
def test_early_divergence_boundary(losses, lowest):
    n = len(losses)
    d = diagnose(np.geomspace(1e-5, 1, n), losses)
    assert f"the loss is lowest at point {lowest} of {n}: it diverged within the first points (start lower)" in d.warnings
    later = np.r_[losses[: lowest + 1] + 0.5, losses[lowest] - 0.25, losses[lowest + 2 :]]  # the minimum one point later
    assert not any("lowest" in w for w in diagnose(np.geomspace(1e-5, 1, n), later).warnings)


def test_few_points_and_not_increasing_lrs():
    lrs = np.geomspace(1e-5, 1, 10)
    nine = diagnose(lrs[:9], [8.0, 7, 6, 5, 4, 3, 2, 1, 0])
    assert nine.warnings == ("only 9 points: suggestions are rough",) and nine.usable and not nine.ok
    assert nine.unusable == {"slide": "needs at least 16 points; the curve has 9"}
    assert "only" not in str(diagnose(lrs, np.linspace(2, 1, 10)))  # 10 points are enough
    flat = np.r_[lrs[:5], lrs[4], lrs[6:]]
    d = diagnose(flat, np.linspace(2, 1, 10), funcs=(steep, minimum))
    assert d.warnings == ("lrs are not increasing (at point 5)",)
    assert d.unusable == {"steep": f"needs increasing lrs; the lr at point 5 ({flat[5]}) is not above the one before ({flat[4]})"}
    assert str(d) == f"steep: {d.unusable['steep']}; lrs are not increasing (at point 5)"
    both = diagnose(flat, np.linspace(2, 1, 10)).unusable["slide"]  # two reasons, joined by "; "
    assert both == "needs at least 16 points; the curve has 10; " + d.unusable["steep"]


def test_unusable_curve_reports_problems_for_every_method_and_no_warnings():
    d = diagnose([1e-3, 1e-2, 1e-1, 1.0], [3.0, np.inf, 2.0, 1.0], funcs=(valley, minimum))
    reason = "the loss at point 1 is inf"
    assert d.problems == (reason,) and not d.usable and not d.ok and d.warnings == ()
    assert d.unusable == {"valley": reason, "minimum": reason} and str(d) == reason
    assert d.n_points == 4


def test_batch_diagnosis_is_per_curve():
    losses = np.stack([np.linspace(2, 1, 20), np.r_[2.0, np.inf, np.linspace(2, 1, 18)], np.r_[np.linspace(2, 1, 12), [np.nan] * 8]])
    ds = diagnose(LRS20, losses, funcs=(valley,))
    assert [d.n_points for d in ds] == [20, 20, 12]
    assert [d.ok for d in ds] == [True, False, True]


# -------------------------------------------------------------------------- LDS on big batches


@pytest.mark.parametrize("batch", [128, 200])
def test_valley_on_ragged_batches_of_128_or_more(batch):
    """Batches from 128 curves run the vectorised LDS: NaN-padded curves of every length 1..60
    must each give the quadratic reference's answer on their own points."""
    rng = np.random.default_rng(batch)
    n = 60
    lrs = np.geomspace(1e-6, 1, n)
    losses = rng.integers(0, 25, size=(batch, n)).astype(float)
    lengths = rng.integers(2, n + 1, size=batch)
    lengths[:4] = (2, n, 3, n)
    losses[3] = np.arange(n, 0.0, -1)  # strictly decreasing throughout: an LDS of n
    for b, k in enumerate(lengths):
        losses[b, k:] = np.nan
        if not np.any(np.diff(losses[b, :k]) < 0):
            losses[b, 0] = losses[b, 1] + 1  # keep every curve usable
    s, (x, y) = valley(lrs, losses)
    for b, k in enumerate(lengths):
        rs, (rx, ry) = ref_valley(lrs[:k].tolist(), losses[b, :k].tolist())
        assert (s[b], x[b], y[b]) == (rs, rx, ry), b


def test_minimum_and_steep_batched_on_ragged_curves_match_formulas():
    lrs = np.geomspace(1e-4, 1, 6)
    losses = np.array([[3.0, 1.0, 2.0, 0.5, np.nan, np.nan], [4.0, 3.0, 2.9, 0.1, 0.2, 5.0]])
    m, (mx, my) = minimum(lrs, losses)
    assert m.tolist() == [lrs[3] / 10, lrs[3] / 10] and my.tolist() == [0.5, 0.1]
    s, _ = steep(lrs, losses)
    assert s.tolist() == [lrs[0], lrs[2]]  # drops of 2.0 and 2.8 per (equal) log step


# ------------------------------------------------------------------------ edges of the formulas


def test_steep_on_two_points_and_on_a_batch_with_a_bad_curve():
    assert steep([1e-2, 1e-1], [2.0, 1.0]) == (1e-2, (1e-2, 2.0))
    lrs = np.geomspace(1e-4, 1, 5)
    losses = np.array([[3.0, 2.0, 0.5, 0.4, 0.3], [3.0, np.inf, 2.0, 1.0, 0.5]])
    with pytest.warns(SuggestionWarning, match="curve 1: the loss at point 1 is inf"):
        s, (x, y) = steep(lrs, losses)
    assert s[0] == lrs[1] and y[0] == 2.0  # the drop 2.0 -> 0.5 is the steepest
    assert np.isnan(s[1]) and np.isnan(x[1]) and np.isnan(y[1])


@pytest.mark.parametrize("func", [steep, slide])
def test_zero_lrs_in_the_padding_are_never_logged(func):
    """A short curve's lrs may be padded with anything (here 0): log(0) there warns nothing."""
    lrs = np.geomspace(1e-4, 1, 20)
    per_curve = np.stack([lrs, np.r_[lrs[:17], 0.0, 0.0, 0.0]])
    losses = np.stack([np.linspace(3, 1, 20) ** 2, np.r_[np.linspace(3, 1, 17) ** 2, [np.nan] * 3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s, _ = func(per_curve, losses)
    assert s.tolist() == [func(lrs, losses[0])[0], func(lrs[:17], losses[1, :17])[0]]


FIVE = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
BOWL = [3.0, 2.0, 1.0, 1.5, 4.0]


@pytest.mark.parametrize(
    "thresh, adjust, expected_y",
    [
        (0.1, 0.5, 3.0),  # runs off the start: lrs[0] / 2 is left of every knot -> the first loss
        (5.0, 50.0, 1.5 + (4.0 - 1.5) * (math.log10(0.5) + 1)),  # 1e-2 * 50 = 0.5: between the last two knots
        (5.0, 200.0, 4.0),  # 1e-2 * 200 = 2: right of every knot -> the last loss
    ],
)
def test_slide_y_left_between_and_right_of_the_knots(thresh, adjust, expected_y):
    s, (x, y) = slide(FIVE, BOWL, lr_diff=2, thresh=thresh, adjust_value=adjust)
    assert y == pytest.approx(expected_y, rel=1e-12)


@PROPS
@given(uneven_curves(min_size=4), st.integers(0, 3), st.sampled_from([0.0, 0.5, 5.0]))
def test_slide_y_at_a_knot_is_exactly_its_loss(curve, lr_diff, thresh):
    """adjust_value=1 suggests one of the lrs: y is that point's loss, exactly (no interpolation)."""
    lrs, losses = curve
    s, (x, y) = slide(lrs, losses, lr_diff=lr_diff, thresh=thresh)
    assert y == losses[list(lrs).index(s)]


def test_diagnose_without_runtime_warnings_on_infinite_lrs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = diagnose([1e-3, np.inf, np.inf, 1.0], [3.0, 2.0, 1.5, 1.0])
    assert d.problems == ("the lr at point 1 is inf",)


def test_not_increasing_at_the_very_first_step():
    lrs = np.r_[1e-3, 1e-3, np.geomspace(1e-2, 1, 8)]
    assert diagnose(lrs, np.linspace(2, 1, 10), funcs=()).warnings == ("lrs are not increasing (at point 1)",)


def test_early_divergence_uses_whole_tenths():
    """n = 45: the first 45 // 10 = 4 points are early; a minimum at point 4 is not."""
    losses = np.r_[5.0, 4.0, 3.0, 2.5, 1.0, np.linspace(2, 9, 40)]
    assert diagnose(np.geomspace(1e-5, 1, 45), losses, funcs=()).ok
