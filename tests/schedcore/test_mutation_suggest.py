"""schedcore.suggest against written-out expectations, where the mutation run found holes:
warning texts and where they point, all-unusable batches, slide's window and gradient ends,
the stop rule's two branches, diagnose's noise estimate, descent's pooling and spread warning,
and custom suggestion functions run one curve at a time."""

import functools
import math
import os
import warnings

import numpy as np
import pytest

import schedcore
from schedcore.suggest import (
    CurveDiagnosis,
    LossSmoother,
    SuggestionWarning,
    descent,
    diagnose,
    diverged,
    minimum,
    slide,
    steep,
    suggest_lrs,
    trim_curve,
    valley,
)

PACKAGE = os.path.dirname(os.path.abspath(schedcore.__file__)) + os.sep
NAN3 = [np.nan] * 3
NEVER = "the loss never decreases (no decreasing stretch at all)"


def caught(f):
    """(result, [(message, filename)]) of the warnings ``f()`` gives: SuggestionWarnings only."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = f()
    assert all(x.category is SuggestionWarning for x in w), [str(x.message) for x in w]
    return out, [(str(x.message), x.filename) for x in w]


def outside_schedcore(filename):
    """A warning points at the caller's line: outside the package (this file; under mutmut, its
    trampoline), never into schedcore's own code."""
    return not os.path.abspath(filename).startswith(PACKAGE)


def only(messages):
    """The one SuggestionWarning's text, which must point outside schedcore (the caller's line)."""
    assert len(messages) == 1, messages
    (text, filename), = messages
    assert outside_schedcore(filename), filename
    return text


# ------------------------------------------------------------------- unusable-curve warnings

EMPTY = "no points (the curve is empty or starts with NaN); needs at least 1 points; the curve has 0"


@pytest.mark.parametrize(
    "n_bad, shown, more",
    [(3, [1, 2, 3], ""), (4, [1, 2, 3], "; and 1 more"), (5, [1, 2, 3], "; and 2 more")],
)
def test_batched_unusable_warning_lists_three_curves_then_counts(n_bad, shown, more):
    losses = [[3.0, 2.0, 1.0]] + [NAN3] * n_bad + [[3.0, 2.0, 1.0]]
    (s, (x, y)), messages = caught(lambda: valley([1.0, 2.0, 3.0], losses))
    listed = "; ".join(f"curve {b}: {EMPTY}" for b in shown)
    assert only(messages) == f"valley: cannot use {n_bad} of {n_bad + 2} curves, their suggestions are nan ({listed}{more})"
    expected = np.r_[1.0, [np.nan] * n_bad, 1.0]
    np.testing.assert_array_equal(s, expected)
    np.testing.assert_array_equal(y, np.r_[3.0, [np.nan] * n_bad, 3.0])


def test_one_curve_with_several_problems_names_them_all():
    (s, point), messages = caught(lambda: steep([0.0], [np.inf]))
    assert math.isnan(s) and all(map(math.isnan, point))
    assert only(messages) == (
        "steep: cannot use this curve: the loss at point 0 is inf; needs at least 2 points; the curve has 1; "
        "needs positive lrs (it works on log(lr)); the lr at point 0 is 0.0; the suggestion is nan"
    )


def test_a_batch_of_only_unusable_curves_gives_float_arrays_of_nan():
    (s, (x, y)), messages = caught(lambda: valley([1.0, 2.0, 3.0], [NAN3, NAN3]))
    assert len(messages) == 1
    for a in (s, x, y):
        assert isinstance(a, np.ndarray) and a.dtype == np.float64 and a.shape == (2,) and np.isnan(a).all()
    (s1, (x1, y1)), _ = caught(lambda: valley([1.0, 2.0, 3.0], NAN3))
    assert type(s1) is float and type(x1) is float and type(y1) is float and math.isnan(s1 + x1 + y1)


def test_warnings_point_at_the_callers_line_also_through_suggest_lrs():
    """A fixed stacklevel pointed into suggest.py when a method ran under suggest_lrs."""
    _, messages = caught(lambda: suggest_lrs([1.0, 2.0, 3.0], [[3.0, 2.0, 1.0], NAN3], funcs=(valley,), trim=False))
    assert only(messages).startswith("valley: cannot use 1 of 2 curves")
    _, messages = caught(lambda: suggest_lrs([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], funcs=(valley,), trim=False))
    assert only(messages) == f"valley: {NEVER}: the curve is a poor guide; the suggestion is fastai's value for it"


# ------------------------------------------------------------------------------------- slide


def test_slide_needs_two_points_whatever_a_smaller_window():
    # lr_diff = 1 on 2 points: the one window (0, 1) has equal gradients and stops: lrs[-1 - lr_diff]
    assert slide([1.0, 10.0], [2.0, 1.0], lr_diff=1) == (1.0, (1.0, 2.0))
    assert slide([1.0, 10.0], [2.0, 1.0], lr_diff=0) == (10.0, (10.0, 1.0))


def test_slide_rows_that_never_stop_keep_the_first_lr():
    """Per row: g = [-7, -6, -4, -2, -1] never has two ends within 0.5 (first lr); g = -1
    everywhere stops at once (lrs[-1 - lr_diff])."""
    lrs = 10.0 ** np.arange(5)
    s, (x, y) = slide(lrs, [[16.0, 9.0, 4.0, 1.0, 0.0], [5.0, 4.0, 3.0, 2.0, 1.0]], lr_diff=1, thresh=0.5)
    np.testing.assert_array_equal(s, [1.0, 1000.0])
    np.testing.assert_array_equal(y, [16.0, 2.0])


def test_slide_uses_the_one_sided_gradient_at_the_first_point():
    """y = [6, 4, 3.5, 0]: g = [4 - 6, (3.5 - 6)/2, (0 - 4)/2, 0 - 3.5] = [-2, -1.25, -2, -3.5].
    With lr_diff = 2, thresh = 1: the window (1, 3) differs by 2.25, the window (0, 2) by 0: it
    stops there, and the suggestion is the lr after it. A short row in the batch is nan."""
    lrs = 10.0 ** np.arange(4)
    assert slide(lrs, [6.0, 4.0, 3.5, 0.0], lr_diff=2, thresh=1.0) == (10.0, (10.0, 4.0))
    (s, (x, y)), messages = caught(
        lambda: slide(lrs, [[6.0, 4.0, 3.5, 0.0], [6.0, 4.0, np.nan, np.nan]], lr_diff=2, thresh=1.0)
    )
    np.testing.assert_array_equal(s, [10.0, np.nan])
    np.testing.assert_array_equal(y, [4.0, np.nan])
    assert only(messages) == (
        "slide: cannot use 1 of 2 curves, their suggestions are nan (curve 1: needs at least 3 points; the curve has 2)"
    )


def test_slide_ignores_inf_minus_inf_between_overflowing_gradients():
    with np.errstate(over="ignore", invalid="raise"):
        s, _ = slide(10.0 ** np.arange(4), [1e308, -1e308, 1e308, -1e308], lr_diff=3)
    assert s == 1.0  # |g[3] - g[0]| = |-inf + inf| is NaN: not above thresh, the window stops


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lr_diff=-1), "lr_diff must be an integer >= 0; got -1"),
        (dict(thresh=-1.0), "thresh must be a finite number >= 0; got -1.0"),
        (dict(adjust_value=0.0), "adjust_value must be a finite number > 0; got 0.0"),
    ],
)
def test_slide_arguments_are_named_in_errors(kwargs, message):
    with pytest.raises(ValueError) as e:
        slide([1.0, 2.0], [2.0, 1.0], **kwargs)
    assert str(e.value) == message


def test_num_it_zero_trims_nothing_at_the_start():
    x, y = trim_curve(np.arange(10.0), np.arange(10.0) + 1, num_it=0)
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and y.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    with pytest.raises(ValueError) as e:
        trim_curve(np.arange(10.0), np.arange(10.0), num_it=-1)
    assert str(e.value) == "num_it must be an integer >= 0; got -1"


# -------------------------------------------------------------------- custom suggestion functions


def first_lr(lrs, losses, num_it):
    """A custom method: lrs[0] * num_it, marking (number of points, last loss)."""
    return lrs[0] * num_it, (float(len(lrs)), losses[-1])


def test_custom_functions_run_per_curve_on_the_kept_points_with_num_it():
    lrs = [1.0, 2.0, 3.0, 4.0]
    losses = [
        [4.0, 3.0, 2.0, 1.0],
        [4.0, 3.0, np.nan, np.nan],  # ragged: 2 points
        [4.0, np.inf, np.nan, 1.0],  # two problems
        [1.0, 2.0, 3.0, 4.0],  # never decreases
    ]
    (s, pts), messages = caught(lambda: suggest_lrs(lrs, losses, 20, funcs=(first_lr,), trim=False, return_points=True))
    np.testing.assert_array_equal(s.first_lr, [20.0, 20.0, np.nan, 20.0])
    np.testing.assert_array_equal(pts.first_lr[0], [4.0, 2.0, np.nan, 4.0])
    np.testing.assert_array_equal(pts.first_lr[1], [1.0, 3.0, np.nan, 4.0])
    assert [m for m, _ in messages] == [
        f"first_lr: in 1 of 4 curves (curve 3) {NEVER}: the curve is a poor guide; the suggestion is fastai's value for it",
        "first_lr: cannot use this curve (curve 2): NaN inside: the loss at point 2 is NaN but later ones are not; "
        "the loss at point 1 is inf; the suggestion is nan",
    ]
    assert all(outside_schedcore(f) for _, f in messages)
    (s1, _), messages = caught(lambda: suggest_lrs(lrs, losses[2], 20, funcs=(first_lr,), trim=False, return_points=True))
    assert math.isnan(s1.first_lr)
    assert only(messages) == (
        "first_lr: cannot use this curve: NaN inside: the loss at point 2 is NaN but later ones are not; "
        "the loss at point 1 is inf; the suggestion is nan"
    )


@pytest.mark.parametrize("func, name", [(steep, "steep"), (functools.partial(slide, lr_diff=1), "slide")])
def test_built_in_methods_run_batched_under_suggest_lrs(func, name):
    """One warning for the batch (a per-curve run would warn once per curve, in other words)."""
    (s,), messages = caught(lambda: suggest_lrs([1.0, 10.0], [[2.0, 1.0], [2.0, np.nan]], funcs=(func,), trim=False))
    assert only(messages) == (
        f"{name}: cannot use 1 of 2 curves, their suggestions are nan (curve 1: needs at least 2 points; the curve has 1)"
    )
    assert np.isnan(s[1]) and s[0] in (1.0, 10.0)


# --------------------------------------------------------------------------- smoothing, stop rule


def test_loss_smoother_default_beta_is_0_98():
    """Two losses a, b: ((1-beta)*beta*a + (1-beta)*b) / (1 - beta**2) = (beta*a + b) / (1 + beta)."""
    s = LossSmoother()
    assert s(2.0) == 2.0
    assert s(0.0) == pytest.approx(0.98 * 2.0 / 1.98)


@pytest.mark.parametrize(
    "loss, best, first, expected",
    [
        (4.0, 1.0, 2.0, False),  # 4 * best exactly: not above
        (5.0, 2.0, 3.0, False),  # 4 * 2 = 8
        (3.0, 0.5, 3.0, True),  # best in (0, 1): still 4 * best = 2
        (1.0, 0.0, 2.0, False),  # best = 0: 0 + 3 * max(0, 2) = 6
        (7.0, 0.0, 2.0, True),
        (2.0, -1.0, 0.0, False),  # -1 + 3 * max(1, 1) = 2 exactly: not above
        (12.0, -1.0, 5.0, False),  # -1 + 3 * max(1, 6) = 17
        (18.0, -1.0, 5.0, True),
        (3.0, -1.0, -(10**400), True),  # first = -inf: -1 + 3 * max(1, -inf) = 2
        (3.0, -1.0, 10**400, False),  # first = +inf: never
    ],
)
def test_diverged_closed_form(loss, best, first, expected):
    assert diverged(loss, best, first) is expected


@pytest.mark.parametrize("args, name", [(("x", 1.0, 2.0), "loss"), ((1.0, "x", 2.0), "best"), ((1.0, 2.0, "x"), "first")])
def test_diverged_names_the_argument_that_is_not_a_number(args, name):
    with pytest.raises(TypeError) as e:
        diverged(*args)
    assert str(e.value) == f"{name} must be a number; got 'x' (str)"


# ------------------------------------------------------------------------------------- diagnose


def test_diagnosis_lists_every_problem():
    d = diagnose([1.0, 2.0, np.inf], [3.0, np.inf, 1.0], funcs=(valley,))
    assert str(d) == "the loss at point 1 is inf; the lr at point 2 is inf"
    assert d == CurveDiagnosis(3, ("the loss at point 1 is inf", "the lr at point 2 is inf"), {"valley": str(d)})


def test_diagnose_minimum_points_of_steep_and_a_narrow_slide():
    d = diagnose([1.0, 2.0], [2.0, 1.0], funcs=(steep, functools.partial(slide, lr_diff=1)))
    assert d.unusable == {} and d.warnings == ("only 2 points: suggestions are rough",)
    one = diagnose([1.0], [2.0], funcs=(valley,))
    assert one.problems == () and one.warnings == (NEVER, "only 1 points: suggestions are rough")
    with pytest.raises(ValueError) as e:
        diagnose([1.0, 2.0], [2.0, 1.0], noise_ratio=-0.1)
    assert str(e.value) == "noise_ratio must be a finite number >= 0; got -0.1"


def noise_and_drop(y):
    """The documented estimate: 1.4826 * MAD(second differences) / sqrt(6), and the highest loss
    before the minimum minus the minimum."""
    d2 = y[2:] - 2 * y[1:-1] + y[:-2]
    sigma = 1.4826 * np.median(np.abs(d2 - np.median(d2))) / np.sqrt(6)
    low = int(np.argmin(y))
    return sigma, y[: low + 1].max() - y[low]


def test_noise_estimate_per_curve_of_a_ragged_batch():
    k = np.arange(12.0)
    wiggle = np.array([0.0, 0.03, -0.01, 0.02, 0.05, -0.02, 0.0, 0.04, -0.03, 0.01, 0.02, 0.0])
    a = 0.9 - 0.05 * k + 0.004 * k**2 + wiggle  # drop < 1, d2 with a non-zero median
    b = np.r_[2.0 - 0.1 * k[:10] + 3 * wiggle[:10], np.nan, np.nan]  # exactly 10 points
    inf_inside = np.r_[a[:5], np.inf, a[6:]]  # a problem: its warnings are not shown
    rising = 1.0 + 0.1 * k + wiggle  # lowest first: drop 0, ratio 0 whatever the noise
    lrs = 10.0 ** (k / 4 - 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ds = diagnose(lrs, np.stack([a, b, inf_inside, rising]), funcs=(valley,), noise_ratio=0.0)
    noisy = [[w for w in d.warnings if w.startswith("too noisy")] for d in ds]
    expected = [noise_and_drop(a), noise_and_drop(b[:10])]
    assert noisy[:2] == [[f"too noisy: estimated noise {s:.3g} vs. loss drop {d:.3g}"] for s, d in expected]
    assert noisy[2:] == [[], []] and ds[2].warnings == ()
    assert 0 < expected[0][1] < 1


# -------------------------------------------------------------------------------------- descent

LRS = 10.0 ** np.arange(-6, 3)
CURVE = np.array([2.0, 1.9, 1.7, 1.2, 0.8, 0.6, 0.7, 1.5, 3.0])
LATE = np.array([2.0, 2.0, 2.0, 1.9, 1.7, 1.2, 0.8, 0.6, 0.7])  # the same descent, two decades later


def test_descent_spread_warning_states_the_runs_own_suggestions():
    """Own suggestions 1e-2 and 1 (80% of the drop done), stepped back half a decade."""
    (s, _), messages = caught(lambda: descent(LRS, np.stack([CURVE, LATE]), spread_warn=1.0))
    assert only(messages) == (
        "descent: the 2 runs disagree: their own suggestions spread over 2 decades (from 0.00316 to 0.316); "
        "the range test is a poor guide here (check the curves; try a few lrs)"
    )
    # pooled: the mean of two runs (their median), [2, 1.95, 1.85, 1.55, 1.25, 0.9, 0.75, 1.05, 1.85]:
    # minimum 0.75 at 1e0, 80% of the drop 2 -> 0.75 done at 0.75 + 0.25 = 1.0: first at 1e-1 (0.9)
    assert s == pytest.approx(1e-1 * 10**-0.5)


def test_descent_on_two_points_and_after_a_higher_point():
    s, (x, y) = descent([1e-3, 1e-2], [2.0, 1.0])  # min 1 at 1e-2; threshold 1.2: 1e-2, back 10**-0.5
    assert s == x == pytest.approx(10**-2.5) and y == pytest.approx(1.5)
    # the top is taken up to the minimum only: 2 (not 5) -> threshold 1.2: the point at 1e-1
    assert descent([1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.5, 1.0, 5.0], back=0.0)[0] == pytest.approx(1e-1)


def test_descent_needs_positive_lrs():
    (s, _), messages = caught(lambda: descent([-1.0, 1.0, 2.0], [3.0, 2.0, 1.0]))
    assert math.isnan(s)
    assert only(messages) == (
        "descent: cannot use this curve: needs positive lrs (it works on log(lr)); the lr at point 0 is -1.0; "
        "the suggestion is nan"
    )


def test_descent_pools_runs_on_different_lr_grids():
    """Run A on lrs 1e-3..1e0, run B on 1e-2..1e1 (a decade later). On the union: NaN before a
    run's first lr (left out of the median), +inf after its last (a stopped run diverged)."""
    a = np.array([2.0, 0.4, 0.5, 0.6])
    b = np.array([3.0, 1.5, 0.4, 0.2])
    lrs = np.array([10.0 ** np.arange(-3, 1), 10.0 ** np.arange(-2, 2)])
    # pooled on 1e-3..1e1: [2 (A only), (0.4+3)/2, (0.5+1.5)/2, (0.6+0.4)/2, (inf+0.2)/2 = inf: dropped]
    # = [2, 1.7, 1, 0.5]: minimum 0.5 at 1e0, top 2.
    # done = 0.3: threshold 0.5 + 0.7 * 1.5 = 1.55: first at 1e-1 (1.0)
    s, (x, y) = descent(lrs, np.stack([a, b]), done=0.3, back=0.0, spread_warn=10)
    assert (s, x, y) == pytest.approx((1e-1, 1e-1, 1.0))
    # done = 1: the minimum itself
    s, (x, y) = descent(lrs, np.stack([a, b]), done=1.0, back=0.0, spread_warn=10)
    assert (s, x, y) == pytest.approx((1.0, 1.0, 0.5))


@pytest.mark.parametrize("n_poor, shown", [(5, "1, 2, 3, 4, 5"), (6, "1, 2, 3, 4, 5, ...")])
def test_batched_poor_guide_warning_lists_five_curves(n_poor, shown):
    losses = [[3.0, 2.0, 1.0]] + [[1.0, 1.0, 2.0]] * n_poor
    (s, _), messages = caught(lambda: minimum([1.0, 2.0, 3.0], losses))
    assert only(messages) == (
        f"minimum: in {n_poor} of {n_poor + 1} curves (curve {shown}) {NEVER}: the curve is a poor guide; "
        "the suggestion is fastai's value for it"
    )
    np.testing.assert_array_equal(s, [0.3] + [0.1] * n_poor)  # lrs[argmin] / 10


def _private(lrs, losses, num_it):
    return lrs[0], (lrs[0], losses[0])


def test_field_names_number_repeats_and_replace_private_names():
    s = suggest_lrs([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], funcs=(valley, valley, valley, _private), trim=False)
    assert s._fields == ("valley", "valley_2", "valley_3", "func3")


@pytest.mark.parametrize(
    "lrs, losses, error, message",
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0], ValueError, "lrs and losses must have as many points; got shapes (3,) and (2,)"),
        ([1.0, 2.0], 1.0, ValueError, "lrs and losses must have as many points; got shapes (2,) and ()"),
        (1.0, 1.0, ValueError, "lrs and losses must have as many points; got shapes () and ()"),
        ([1.0, 2.0], "ab", TypeError, "losses must hold numbers; got 'ab' (str)"),
    ],
)
def test_trim_curve_errors(lrs, losses, error, message):
    with pytest.raises(error) as e:
        trim_curve(lrs, losses)
    assert str(e.value) == message


class Halfway:
    """A callable object without a __name__: its field and warnings use the class name."""

    def __call__(self, lrs, losses, num_it):
        return lrs[len(lrs) // 2], (lrs[len(lrs) // 2], losses[len(lrs) // 2])


def test_a_callable_object_is_named_after_its_class():
    lrs = 10.0 ** np.arange(-6, 3)
    s = suggest_lrs(lrs, [2.0, 1.9, 1.7, 1.2, 0.8, 0.6, 0.7, 1.5, 3.0], funcs=(Halfway(),), trim=False)
    assert s._fields == ("Halfway",) and s.Halfway == 1e-2


@pytest.mark.parametrize("funcs", ["valley", [valley, 3]])
def test_funcs_must_all_be_callable(funcs):
    with pytest.raises(TypeError) as e:
        suggest_lrs([1.0, 2.0], [2.0, 1.0], funcs=funcs)
    assert str(e.value) == f"funcs must be a sequence of suggestion functions; got {funcs!r}"


def test_suggest_lrs_passes_the_number_of_points_as_num_it_by_default():
    """20 points: trim keeps [20 // 10 : -5] = points 2..14; first_lr gives lrs[2] * 20."""
    lrs = np.arange(1.0, 21.0)
    s = suggest_lrs(lrs, 30.0 - lrs, funcs=(first_lr,))
    assert s.first_lr == 3.0 * 20


@pytest.mark.parametrize(
    "args, message",
    [
        (("ab", [1.0]), "lrs must hold numbers; got 'ab' (str)"),
        (([1.0], "ab"), "losses must hold numbers; got 'ab' (str)"),
        (([1.0], "ab", 1), "losses must hold numbers; got 'ab' (str)"),
    ],
)
def test_suggest_lrs_names_the_array_that_is_not_numbers(args, message):
    with pytest.raises(TypeError) as e:
        suggest_lrs(*args, trim=False)
    assert str(e.value) == message


def test_trim_curve_cuts_each_curve_of_a_batch_at_its_first_nan():
    row = np.r_[np.arange(12.0), np.nan, np.zeros(7)]
    x, y = trim_curve(np.arange(20.0), np.stack([row, np.arange(20.0)]))
    np.testing.assert_array_equal(x, [np.arange(2.0, 15.0)] * 2)  # one lrs row per curve
    np.testing.assert_array_equal(y, [np.r_[np.arange(2.0, 12.0), [np.nan] * 3], np.arange(2.0, 15.0)])


def test_minimum_of_a_batch_with_an_unusable_curve():
    (s, (x, y)), messages = caught(lambda: minimum([1.0, 2.0, 3.0], [[3.0, 1.0, 2.0], [np.nan] * 3]))
    np.testing.assert_array_equal(s, [0.2, np.nan])
    np.testing.assert_array_equal(y, [1.0, np.nan])
    assert only(messages).startswith("minimum: cannot use 1 of 2 curves")
