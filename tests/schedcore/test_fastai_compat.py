"""fastai code ports by changing imports: schedules given as plain functions, fastai-style
``@annealer`` bodies, and the suggesters on curves that never decrease.

Expected numbers are fastai 2.8.12's (read from a scratch install); the tests are ours.
"""

import functools
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedcore import (
    FuncSchedule,
    SchedLin,
    SuggestionWarning,
    annealer,
    as_schedule,
    combine_scheds,
    diagnose,
    evaluate_callable,
    minimum,
    schedule_table,
    steep,
    suggest_lrs,
    valley,
)


# ------------------------------------------------------------------- fastai-style @annealer
@annealer
def sched_sqrt(start, end, pos):
    return start + (end - start) * math.sqrt(pos)  # scalar-only: math.sqrt takes one float


@annealer
def sched_step(start, end, pos):
    if pos < 0.5:  # scalar-only: an array here is "ambiguous"
        return start
    return end


def lin_down(pos):
    return 0.1 * (1 - pos)


class Half:
    def __call__(self, pos):
        return 0.05 + 0.0 * pos


def test_scalar_only_annealers_give_fastais_values():
    """fastai: sched_sqrt(1, 3) at 0, .25, .5, 1 -> 1, 2, 2.414213562373095, 3;
    sched_step(1e-2, 1e-3) at 0, .49, .5, .9 -> 0.01, 0.01, 0.001, 0.001."""
    pos = [0.0, 0.25, 0.5, 1.0]
    np.testing.assert_allclose(sched_sqrt(1.0, 3.0)(pos), [1.0, 2.0, 2.414213562373095, 3.0], rtol=1e-15)
    assert [sched_sqrt(1.0, 3.0)(p) for p in pos] == pytest.approx([1.0, 2.0, 2.414213562373095, 3.0])
    assert sched_step(1e-2, 1e-3)([0.0, 0.49, 0.5, 0.9]).tolist() == [0.01, 0.01, 0.001, 0.001]
    assert sched_step(1e-2, 1e-3)(0.49) == 0.01


def test_scalar_only_annealer_with_per_group_values():
    f = sched_sqrt([1.0, 10.0], [3.0, 30.0])
    np.testing.assert_allclose(f([0.0, 0.25]), [[1.0, 10.0], [2.0, 20.0]])


def test_scalar_only_annealer_pickles():
    f = pickle.loads(pickle.dumps(sched_step(1.0, 2.0)))
    assert f([0.25, 0.75]).tolist() == [1.0, 2.0]


# ------------------------------------------------------------------ plain callables everywhere
PLAIN = {
    "lambda": lambda p: 0.1 * (1 - p),
    "def": lin_down,
    "partial": functools.partial(lambda k, p: k * p, 0.2),
    "object": Half(),
}
# fastai: a ParamScheduler({'lr': f}) over 4 steps records these lrs (positions 0, .25, .5, .75)
FASTAI_4_STEPS = {
    "lambda": [0.1, 0.075, 0.05, 0.025],
    "def": [0.1, 0.075, 0.05, 0.025],
    "partial": [0.0, 0.05, 0.1, 0.15],
    "object": [0.05, 0.05, 0.05, 0.05],
}


@pytest.mark.parametrize("kind", list(PLAIN))
def test_plain_callables_as_table_schedules(kind):
    np.testing.assert_allclose(schedule_table({"lr": PLAIN[kind]}, 4)["lr"], FASTAI_4_STEPS[kind], rtol=1e-15)
    np.testing.assert_allclose(schedule_table(PLAIN[kind], 4)["lr"], FASTAI_4_STEPS[kind], rtol=1e-15)


def test_plain_callables_as_combine_scheds_pieces():
    """fastai: combine_scheds([.25, .75], [lambda p: .01 + .09*p, sched_step(.1, .01)]) over 4
    steps -> 0.01, 0.1, 0.1, 0.01; and [1-p, partial(k*p, 3)] at 0, .25, .5, .75 -> 1, .5, 0, 1.5."""
    f = combine_scheds([0.25, 0.75], [lambda p: 0.01 + 0.09 * p, sched_step(0.1, 0.01)])
    np.testing.assert_allclose(schedule_table(f, 4)["lr"], [0.01, 0.1, 0.1, 0.01], rtol=1e-15)
    g = combine_scheds([0.5, 0.5], [lambda p: 1 - p, functools.partial(lambda a, p: a * p, 3.0)])
    np.testing.assert_allclose(g([0.0, 0.25, 0.5, 0.75]), [1.0, 0.5, 0.0, 1.5])
    assert g(0.75) == 1.5
    h = combine_scheds([0.5, 0.5], [math.sqrt, Half()])  # scalar-only pieces too
    np.testing.assert_allclose(h([0.125, 0.75]), [0.5, 0.05])


def test_plain_function_schedule_pickles_when_its_function_does():
    f = pickle.loads(pickle.dumps(combine_scheds([0.5, 0.5], [lin_down, Half()])))
    np.testing.assert_allclose(f([0.0, 0.5]), [0.1, 0.05])


def test_non_callable_schedule_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="the schedule for 'lr' must be a schedule .*; got 0.1"):
        schedule_table({"lr": 0.1}, 4)
    with pytest.raises(TypeError, match="a schedule must be callable"):
        FuncSchedule("lin")


# ------------------------------------------------------------- one evaluation per table
class Counting:
    """A schedule that records the shape of every argument it is called with."""

    def __init__(self, vectorised=True):
        self.calls, self.vectorised = [], vectorised

    def __call__(self, pos):
        self.calls.append(np.shape(pos))
        if self.vectorised:
            return 1.0 - 0.5 * np.asarray(pos)
        return 1.0 - 0.5 * math.sqrt(pos) ** 2  # math.sqrt: floats only


def test_vectorisable_callable_is_called_once_per_table():
    f = Counting()
    t = schedule_table({"lr": f}, 100)
    assert f.calls == [(100,)]
    np.testing.assert_allclose(t["lr"], 1 - 0.5 * np.arange(100) / 100, rtol=1e-15)


def test_vectorisable_combine_piece_is_called_once_per_table():
    f = Counting()
    t = schedule_table(combine_scheds([0.3, 0.7], [f, SchedLin(1, 0)]), 100)
    assert f.calls == [(30,)]
    np.testing.assert_allclose(t["lr"][:30], 1 - 0.5 * np.arange(30) / 30, rtol=1e-15)


def test_scalar_only_callable_is_tried_once_then_evaluated_position_by_position():
    f = Counting(vectorised=False)
    t = schedule_table({"lr": f}, 50)
    assert f.calls == [(50,)] + [()] * 50  # one failed vectorised try, then one call per step
    np.testing.assert_allclose(t["lr"], 1 - 0.5 * np.arange(50) / 50, rtol=1e-14)


def test_wrong_shape_result_falls_back_to_positions():
    """A function giving one number for the whole array (``lambda p: 0.1``) is evaluated per
    position, and so is one whose result has the wrong shape."""
    calls = []

    def first_only(p):
        calls.append(np.shape(p))
        return p * 2 if np.ndim(p) == 0 else p[:1] * 2  # wrong shape on an array

    assert evaluate_callable(lambda p: 0.1, np.zeros(3)).tolist() == [0.1, 0.1, 0.1]
    assert evaluate_callable(first_only, np.array([0.1, 0.2, 0.3])).tolist() == [0.2, 0.4, 0.6]
    assert calls == [(3,), (), (), ()]


def test_error_at_a_position_propagates():
    def broken(p):
        if p > 0.5:
            raise ZeroDivisionError("boom")
        return p

    with pytest.raises(ZeroDivisionError, match="boom"):
        schedule_table(broken, 4)


def test_single_position_array_goes_through_the_scalar_path():
    """``math.sqrt(np.array([x]))`` converts a size-1 array (deprecated in numpy): a scalar-only
    body must not be mistaken for a vectorised one on a one-step table."""
    f = sched_sqrt(0.0, 4.0)
    np.testing.assert_allclose(f(np.array([0.25])), [2.0])
    assert schedule_table(f, 1)["lr"].tolist() == [0.0]


@settings(deadline=None)  # examples and seed: the profile (conftest.py)
@given(st.integers(1, 40), st.integers(0, 40))
def test_table_row_k_is_f_of_k_over_n_for_plain_functions(n, start):
    """Property: for a plain scalar-only function, table row k equals f(k/n), from any start."""
    start = min(start, n)
    t = schedule_table({"lr": sched_step(1.0, 2.0)}, n, start=start)
    assert t["lr"].tolist() == [1.0 if k / n < 0.5 else 2.0 for k in range(start, n)]


def test_as_schedule_passes_schedules_through():
    s = SchedLin(0, 1)
    assert as_schedule(s) is s and isinstance(as_schedule(lin_down), FuncSchedule)


# ------------------------------------------------------------ suggesters, never-decreasing curves
LRS = np.array([1e-3, 1e-2, 1e-1, 1.0, 10.0])


@pytest.mark.parametrize("losses", [[1.0, 2.0, 3.0, 4.0, 5.0], [1.0] * 5, [1.0, 1.1, 1.3, 1.7, 2.5]])
def test_never_decreasing_curve_gives_fastais_numbers_and_a_warning(losses):
    """fastai on a loss that never decreases: minimum -> (lrs[0]/10, (lrs[0], losses[0])),
    steep -> lrs[0], valley -> lrs[0] (fastai 2.8.12 on [1, 2, 3, 4, 5] and on a flat curve:
    minimum 1e-4, steep 1e-3, valley 1e-3). We add a warning that the curve is a poor guide."""
    expected = {minimum: 1e-4, steep: 1e-3, valley: 1e-3}
    for func, lr in expected.items():
        with pytest.warns(SuggestionWarning, match=f"{func.__name__}: the loss never decreases.*poor guide"):
            s, (x, y) = func(LRS, losses)
        assert s == pytest.approx(lr, rel=1e-12) and x == pytest.approx(1e-3, rel=1e-12) and y == losses[0]


def test_never_decreasing_in_a_batch_warns_and_keeps_the_numbers():
    losses = np.array([[5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    with pytest.warns(SuggestionWarning, match=r"valley: in 1 of 2 curves \(curve 1\) the loss never decreases"):
        s, _ = valley(LRS, losses)
    assert s.tolist() == [valley(LRS, losses[0])[0], 1e-3]


def test_unusable_curves_still_give_nan():
    """Too short or no points: nan with a warning (fastai raises an IndexError or returns junk)."""
    with pytest.warns(SuggestionWarning, match="steep: cannot use this curve: needs at least 2 points"):
        assert math.isnan(steep([1e-3], [1.0])[0])
    with pytest.warns(SuggestionWarning, match="valley: cannot use this curve: no points"):
        assert math.isnan(valley([], [])[0])


def test_never_decreasing_curve_through_suggest_lrs_and_user_functions():
    def first(lrs, losses, num_it):
        return lrs[0], (lrs[0], losses[0])

    with pytest.warns(SuggestionWarning, match="first: the loss never decreases"):
        s = suggest_lrs(LRS, [1.0, 2.0, 3.0, 4.0, 5.0], funcs=(first, minimum), trim=False)
    assert s == (1e-3, 1e-4)
    d = diagnose(LRS, [1.0, 2.0, 3.0, 4.0, 5.0], funcs=(valley, minimum, steep))
    assert d.usable and not d.unusable and "the loss never decreases" in d.warnings[0]
