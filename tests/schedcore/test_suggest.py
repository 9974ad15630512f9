"""Suggesters: the seed's examples, hand-checked index rules, a plain-Python reference of fastai's
rules (written from design.md), unusable curves, and property tests."""

import functools
import math
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from schedcore import SchedExp
from schedcore.suggest import (
    CurveDiagnosis,
    SuggestedLRs,
    SuggestionMethod,
    SuggestionWarning,
    diagnose,
    minimum,
    slide,
    smooth_losses,
    steep,
    suggest_lrs,
    trim_curve,
    valley,
)

from .suggest_reference import ref_minimum, ref_slide, ref_steep, ref_valley

FAST = settings(deadline=None)  # examples and seed: the profile (conftest.py)


REFS = {valley: ref_valley, slide: ref_slide, minimum: ref_minimum, steep: ref_steep}


def lr_find_curve(num_it=100, seed=0, noise=0.05):
    """A recorded LR-range-test curve: exponential lrs, smoothed losses of a noisy valley."""
    rng = np.random.default_rng(seed)
    lrs = SchedExp(1e-7, 10)(np.arange(num_it) / num_it)
    t = np.log10(lrs)
    raw = 2.5 - 2.0 / (1 + np.exp(-(t + 4))) + np.exp(2.5 * (t - 0.3)) + noise * rng.standard_normal(num_it)
    return lrs, smooth_losses(raw)


# ------------------------------------------------------------------------------- seed examples


def test_seed_lr_find_suggest_funcs():
    """``lr_min, lr_steep, lr_valley, lr_slide = learn.lr_find(suggest_funcs=(minimum, steep, valley, slide))``."""
    lrs, losses = lr_find_curve()
    lr_min, lr_steep, lr_valley, lr_slide = suggest_lrs(lrs, losses, 100, funcs=(minimum, steep, valley, slide))
    text = f"Minimum/10:\t{lr_min:.2e}\nSteepest point:\t{lr_steep:.2e}\nLongest valley:\t{lr_valley:.2e}\nSlide interval:\t{lr_slide:.2e}"
    assert text.count("e-") + text.count("e+") == 4
    x, y = lrs[10:-5], losses[10:-5]
    for func, value in zip((minimum, steep, valley, slide), (lr_min, lr_steep, lr_valley, lr_slide), strict=True):
        assert value == REFS[func](x, y)[0]


def test_seed_custom_function_and_partial():
    """A user's ``myfunc(lrs, losses, num_it) -> (suggestion, (suggestion, loss))``, also as a partial."""

    def myfunc(lrs, losses, num_it, pct_reduction=0.5):
        i = int(np.argmax(losses <= losses.min() + pct_reduction * (losses.max() - losses.min())))
        return float(lrs[i]), (float(lrs[i]), float(losses[i]))

    f = functools.partial(myfunc, pct_reduction=0.2)
    lrs, losses = lr_find_curve()
    s, points = suggest_lrs(lrs, losses, 100, funcs=(valley, f, functools.partial(slide, lr_diff=10)), return_points=True)
    assert s._fields == ("valley", "myfunc", "slide")
    assert s.myfunc == myfunc(lrs[10:-5], losses[10:-5], 100, pct_reduction=0.2)[0]
    assert s.slide == ref_slide(lrs[10:-5], losses[10:-5], lr_diff=10)[0]
    assert points.myfunc == myfunc(lrs[10:-5], losses[10:-5], 100, 0.2)[1]


def test_seed_suggestion_method():
    assert SuggestionMethod.Valley is valley and SuggestionMethod.Slide is slide
    assert SuggestionMethod.Minimum is minimum and SuggestionMethod.Steep is steep
    lrs, losses = lr_find_curve()
    assert suggest_lrs(lrs, losses, funcs=(SuggestionMethod.Steep,)).steep == steep(lrs[10:-5], losses[10:-5])[0]


@pytest.mark.parametrize("func", [valley, slide, minimum, steep])
@pytest.mark.parametrize("seed", range(5))
def test_matches_reference_on_lr_find_curves(func, seed):
    lrs, losses = trim_curve(*lr_find_curve(seed=seed, noise=0.02 * seed))
    s, (x, y) = func(lrs, losses, 100)
    rs, (rx, ry) = REFS[func](lrs, losses)
    assert (s, x) == (rs, rx) and y == pytest.approx(ry, rel=1e-12)


def test_duplicate_names_and_pickling():
    lrs, losses = lr_find_curve()
    s = suggest_lrs(lrs, losses, funcs=(slide, functools.partial(slide, lr_diff=5), lambda a, b, c: (1.0, (1.0, 1.0))))
    assert s._fields == ("slide", "slide_2", "func2")
    assert isinstance(s, SuggestedLRs) and pickle.loads(pickle.dumps(s)) == s


# --------------------------------------------------------------------------- hand-checked rules


def test_minimum_by_hand():
    assert minimum([1e-3, 1e-2, 1e-1, 1.0], [3.0, 1.0, 1.0, 2.0]) == (1e-3, (1e-2, 1.0))  # first of ties


def test_steep_by_hand():
    # slopes per decade: -1, -3, -0.5 -> the steepest segment starts at lrs[1]
    assert steep([1e-3, 1e-2, 1e-1, 1.0], [5.0, 4.0, 1.0, 0.5]) == (1e-2, (1e-2, 4.0))


def test_valley_by_hand():
    # lds = 1..7 then 1, 2, 3: end = 6, start = -1, sec = 7/3, idx = -1 + 2 + 1 = 2
    losses = [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 8.0, 2.5, 1.5]
    assert valley(np.arange(10.0), losses) == (2.0, (2.0, 5.0))


def test_valley_wrap_around_is_clamped():
    """Longest decrease is two points at the start: start = -1, idx = -1; fastai returns lrs[-1]."""
    lrs, losses = [1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.0, 3.0, 4.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert valley(lrs, losses) == (1e-3, (1e-3, 2.0))


def test_slide_by_hand():
    # g = [-1, -1, -0.25, 1.5, 2.5]; windows (2,4): 2.75 > 1, (1,3): 2.5 > 1, (0,2): 0.75 stop -> lrs[1]
    lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert slide(lrs, [3.0, 2.0, 1.0, 1.5, 4.0], lr_diff=2, thresh=1.0) == (1e-3, (1e-3, 2.0))
    # the first window passes: lrs[-1 - lr_diff]
    assert slide(lrs, [3.0, 2.0, 1.0, 1.5, 4.0], lr_diff=2, thresh=5.0)[0] == 1e-2
    # every window fails: the loop runs off the start, lrs[0]
    assert slide(lrs, [3.0, 2.0, 1.0, 1.5, 4.0], lr_diff=2, thresh=0.1)[0] == 1e-4
    # adjust_value scales; y interpolates on the log-lr axis between lrs[1] and lrs[2]
    s, (x, y) = slide(lrs, [3.0, 2.0, 1.0, 1.5, 4.0], lr_diff=2, thresh=1.0, adjust_value=10**0.5)
    assert s == pytest.approx(10**-2.5) and y == pytest.approx(1.5)


def test_slide_exactly_lr_diff_plus_one_points():
    lrs = np.geomspace(1e-4, 1, 16)
    losses = np.linspace(3, 1, 16) ** 2
    assert slide(lrs, losses) == ref_slide(lrs, losses)


def test_slide_shorter_than_lr_diff_plus_one_is_nan_with_warning():
    lrs, losses = np.geomspace(1e-4, 1, 10), np.linspace(3, 1, 10)
    with pytest.warns(SuggestionWarning, match=r"slide: .*needs at least 16 points; the curve has 10"):
        s, (x, y) = slide(lrs, losses)
    assert math.isnan(s) and math.isnan(x) and math.isnan(y)
    with pytest.warns(SuggestionWarning, match="slide"):
        s = suggest_lrs(lrs, losses, funcs=(valley, slide), trim=False)
    assert s.valley == valley(lrs, losses)[0] and math.isnan(s.slide)


# ------------------------------------------------------------------------------ unusable curves

BAD_CURVES = [
    ([], [], "no points"),
    ([1e-3, 1e-2, 1e-1, 1.0], [3.0, np.nan, 2.0, 1.0], "NaN inside"),
    ([1e-3, 1e-2, 1e-1, 1.0], [3.0, np.inf, 2.0, 1.0], "loss at point 1 is inf"),
    ([1e-3, np.nan, 1e-1, 1.0], [3.0, 2.5, 2.0, 1.0], "lr at point 1 is nan"),
]


@pytest.mark.parametrize("func", [valley, slide, minimum, steep])
@pytest.mark.parametrize("lrs,losses,reason", BAD_CURVES)
def test_unusable_curve_gives_nan_and_names_method_and_reason(func, lrs, losses, reason):
    with pytest.warns(SuggestionWarning, match=rf"{func.__name__}: .*{reason}"):
        s, (x, y) = func(lrs, losses)
    assert math.isnan(s) and math.isnan(x) and math.isnan(y)


@pytest.mark.parametrize("func", [steep, slide])
def test_log_methods_need_positive_increasing_lrs(func):
    lrs, losses = np.r_[0.0, np.geomspace(1e-4, 1, 19)], np.linspace(3, 1, 20)
    with pytest.warns(SuggestionWarning, match=f"{func.__name__}: .*positive lrs"):
        assert math.isnan(func(lrs, losses)[0])
    with pytest.warns(SuggestionWarning, match="increasing lrs"):
        assert math.isnan(func(lrs[::-1] + 1, losses)[0])


def test_suggest_lrs_on_short_and_nan_curves_never_raises():
    lrs, losses = lr_find_curve()
    losses[30] = np.nan  # diverged: lr_find cuts here
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = suggest_lrs(lrs, losses, 100, funcs=(minimum, steep, valley, slide))
    x, y = lrs[10:30], losses[10:30]
    assert tuple(s) == tuple(REFS[f](x, y)[0] for f in (minimum, steep, valley, slide))
    with pytest.warns(SuggestionWarning) as record:
        s = suggest_lrs(lrs[:12], losses[:12], 100, funcs=(minimum, steep, valley, slide))
    assert all(math.isnan(v) for v in s)
    assert {str(w.message).split(":")[0] for w in record} == {"minimum", "steep", "valley", "slide"}


def test_user_function_failure_is_nan_with_warning():
    def broken(lrs, losses, num_it):
        return lrs[100], (lrs[100], losses[100])

    lrs, losses = lr_find_curve()
    with pytest.warns(SuggestionWarning, match="broken: .*IndexError"):
        assert math.isnan(suggest_lrs(lrs, losses, funcs=(broken,)).broken)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"lr_diff": -1}, "lr_diff"), ({"lr_diff": 1.5}, "lr_diff"), ({"thresh": -1}, "thresh"), ({"adjust_value": 0}, "adjust_value")],
)
def test_slide_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):  # 1.5 is the wrong type: TypeError
        slide(*lr_find_curve(), **kwargs)


def test_shape_errors():
    with pytest.raises(ValueError, match="as many points"):
        valley([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="1-D .* or 2-D"):
        minimum(np.ones((2, 2, 2)), np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="num_it"):
        suggest_lrs([1.0], [1.0], num_it=-3)


# ------------------------------------------------------------------------------------- diagnose


def test_diagnose_good_curve_is_ok():
    lrs, losses = trim_curve(*lr_find_curve())
    d = diagnose(lrs, losses)
    assert isinstance(d, CurveDiagnosis) and d.ok and str(d) == "ok"


def test_diagnose_explains():
    lrs = np.geomspace(1e-6, 1, 60)
    assert "never decreases" in str(diagnose(lrs, np.linspace(1, 2, 60)))
    early = diagnose(lrs, np.r_[2.0, 1.0, np.linspace(1.5, 9, 58)])
    assert any("diverged within the first points" in w for w in early.warnings)
    noisy = diagnose(lrs, 2 + np.random.default_rng(0).standard_normal(60))
    assert any(w.startswith("too noisy") for w in noisy.warnings)
    short = diagnose(lrs[:5], [3.0, 2.0, 1.0, 2.0, 3.0])
    assert short.usable and set(short.unusable) == {"slide"} and "only 5 points" in str(short)
    batch = diagnose(lrs, np.stack([np.linspace(2, 1, 60), np.linspace(1, 2, 60), np.full(60, np.nan)]))
    assert [d.usable for d in batch] == [True, True, False]  # never decreasing: usable, a warning
    assert "never decreases" in batch[1].warnings[0] and not batch[0].warnings
    assert diagnose(lrs, np.linspace(2, 1, 60), funcs=(functools.partial(slide, lr_diff=70),)).unusable == {
        "slide": "needs at least 71 points; the curve has 60"
    }


# -------------------------------------------------------------------------------------- batches


def test_batch_with_shared_and_per_curve_lrs_and_ragged_curves():
    curves = [trim_curve(*lr_find_curve(seed=s, noise=0.03)) for s in range(4)]
    lrs = curves[0][0]
    losses = np.stack([c[1] for c in curves])
    losses[2, 40:] = np.nan  # a shorter curve, NaN-padded
    for func in (valley, slide, minimum, steep):
        for lr_arg in (lrs, np.tile(lrs, (4, 1))):
            s, (x, y) = func(lr_arg, losses)
            for b in range(4):
                n = 40 if b == 2 else len(lrs)
                rs, (rx, ry) = func(lrs[:n], losses[b, :n])
                assert (s[b], x[b]) == (rs, rx) and y[b] == pytest.approx(ry, rel=1e-12)


def test_batch_warning_lists_bad_curves():
    lrs = np.geomspace(1e-5, 1, 20)
    # a never-decreasing curve gives fastai's number with a warning (issue 10, test_fastai_compat)
    losses = np.stack([np.linspace(2, 1, 20), np.r_[1.0, np.inf, np.ones(18)], np.full(20, np.nan)])
    with pytest.warns(SuggestionWarning, match=r"valley: cannot use 2 of 3 curves.*curve 1: the loss at point 1 is inf"):
        s, _ = valley(lrs, losses)
    assert np.isnan(s[1:]).all() and s[0] == valley(lrs, losses[0])[0]


def test_torch_tensor_input():
    torch = pytest.importorskip("torch")
    lrs, losses = trim_curve(*lr_find_curve())
    for func in (valley, slide, minimum, steep):
        assert func(torch.tensor(lrs), torch.tensor(losses)) == func(lrs, losses)


# ---------------------------------------------------------------------------------- smoothing


def test_smooth_losses_matches_recurrence_and_batches():
    raw = np.random.default_rng(1).random((3, 50))
    v, expected = np.zeros(3), np.empty((3, 50))
    for k in range(50):
        v = 0.98 * v + 0.02 * raw[:, k]
        expected[:, k] = v / (1 - 0.98 ** (k + 1))
    np.testing.assert_allclose(smooth_losses(raw), expected, rtol=1e-12)
    np.testing.assert_array_equal(smooth_losses(raw[1]), smooth_losses(raw)[1])
    assert smooth_losses(raw[0])[0] == raw[0, 0]  # debiased: the first value is the first loss
    with pytest.raises(ValueError, match="beta"):
        smooth_losses(raw, beta=1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(-1e3, 1e3), st.sampled_from([math.nan, math.inf, -math.inf])), min_size=1, max_size=40
    ),
    st.floats(0.0, 0.99),
)
def test_one_nan_rule_for_training_and_curves(raw, beta):
    """LossSmoother (per batch, as training records) equals smooth_losses (whole curves, batched):
    a non-finite loss gives NaN there and is kept out of the average and the count."""
    from schedcore import LossSmoother

    smoother = LossSmoother(beta)
    stepwise = np.array([smoother(x) for x in raw])
    expected, v, count = [], 0.0, 0
    for x in raw:  # the closed form, written out
        if math.isfinite(x):
            count += 1
            v = beta * v + (1 - beta) * x
            expected.append(v / (1 - beta**count))
        else:
            expected.append(math.nan)
    np.testing.assert_allclose(stepwise, expected, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(smooth_losses(raw, beta), stepwise, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(smooth_losses(np.array([raw, raw]), beta)[1], stepwise, rtol=1e-12, atol=1e-9)


def test_issue_example_nan_then_finite():
    """Issue 12's example: training recorded [6.07, nan, 5.51]-like values while smooth_losses gave
    [.., nan, nan]; now both keep going after the NaN."""
    out = smooth_losses([1.0, math.nan, 1.0])
    assert out[0] == 1.0 and math.isnan(out[1]) and out[2] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------ properties

@st.composite
def curves(draw, min_size=2):
    """A curve with at least one decrease: integer losses (exact under scaling and shifting),
    log-uniformly increasing lrs with random spacing."""
    losses = np.array(draw(st.lists(st.integers(0, 1000), min_size=min_size, max_size=60)), dtype=float)
    assume(np.any(np.diff(losses) < 0))
    steps = draw(st.lists(st.floats(0.01, 1.0), min_size=len(losses), max_size=len(losses)))
    return 10.0 ** (np.cumsum(steps) - 8), losses


@FAST
@given(st.lists(curves(min_size=20), min_size=1, max_size=6), st.sampled_from([valley, slide, minimum, steep]))
def test_batched_equals_per_curve(batch, func):
    """A batch of curves (NaN-padded to one length, per-curve lrs) gives each curve's own result."""
    n = max(len(c[1]) for c in batch)
    lrs = np.stack([np.r_[x, np.geomspace(x[-1] * 2, x[-1] * 4, n - len(x))] for x, _ in batch])
    losses = np.stack([np.r_[y, np.full(n - len(y), np.nan)] for _, y in batch])
    s, (x, y) = func(lrs, losses)
    for b, (cx, cy) in enumerate(batch):
        rs, (rx, ry) = func(cx, cy)
        assert (s[b], x[b]) == (rs, rx) and y[b] == pytest.approx(ry, rel=1e-9)


@FAST
@given(curves(), st.integers(1, 1000), st.integers(-1000, 1000), st.sampled_from([valley, minimum, steep]))
def test_invariant_under_positive_scale_and_shift(curve, scale, shift, func):
    """valley, minimum and steep only compare losses: scaling and shifting changes nothing."""
    lrs, losses = curve
    assert func(lrs, losses * scale + shift)[0] == func(lrs, losses)[0]


@FAST
@given(curves(min_size=16), st.sampled_from([valley, slide, minimum, steep]))
def test_suggestion_within_lr_range(curve, func):
    """Suggestions lie in [min(lrs), max(lrs)] (minimum: a tenth of a value in it).

    minimum is checked through its point ``x`` (``s * 10`` can miss ``x`` by rounding)."""
    lrs, losses = curve
    s, (x, _) = func(lrs, losses)
    if func is minimum:
        assert x in lrs and s == x / 10
    else:
        assert lrs.min() <= s <= lrs.max()


@FAST
@given(curves())
def test_valley_matches_quadratic_reference(curve):
    lrs, losses = curve
    assert valley(lrs, losses) == ref_valley(lrs, losses)


@FAST
@given(curves(min_size=16), st.integers(0, 15), st.sampled_from([0.0, 0.5, 5.0, 50.0]))
def test_slide_matches_reference(curve, lr_diff, thresh):
    lrs, losses = curve
    s, (x, y) = slide(lrs, losses, lr_diff=lr_diff, thresh=thresh)
    rs, (rx, ry) = ref_slide(lrs, losses, lr_diff=lr_diff, thresh=thresh)
    assert (s, x) == (rs, rx) and y == pytest.approx(ry, rel=1e-12)


def test_large_batch_valley_uses_vectorised_path_and_agrees():
    rng = np.random.default_rng(3)
    losses = rng.integers(0, 30, size=(300, 40)).astype(float)
    lrs = np.geomspace(1e-6, 1, 40)
    s, _ = valley(lrs, losses)
    assert [s[b] for b in range(300)] == [ref_valley(lrs, losses[b])[0] for b in range(300)]


any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)


@FAST
@given(st.lists(st.tuples(any_float, any_float), max_size=25), st.sampled_from([valley, slide, minimum, steep]))
def test_any_curve_gives_nan_or_an_lr_never_an_error(points, func):
    """Whatever the floats (NaN, inf, zero or negative lrs, empty), a method returns nan (with a
    SuggestionWarning) or one of the lrs, and numpy emits no RuntimeWarning."""
    lrs, losses = (np.array(v, dtype=float) for v in zip(*points, strict=True)) if points else (np.array([]),) * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", SuggestionWarning)
        s, (x, y) = func(lrs, losses)
        d = diagnose(lrs, losses)
    assert math.isnan(s) or x in lrs
    assert math.isnan(s) == (func.__name__ in d.unusable)
