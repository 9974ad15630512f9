"""Every bad input is a ValueError/TypeError naming the bad value; nothing yields a silent NaN."""

import numpy as np
import pytest

from schedcore import (
    SchedCos,
    SchedExp,
    SchedLin,
    SchedNo,
    SchedPoly,
    combine_scheds,
    combined_cos,
    flat_cos,
    get_policy,
    group_values,
    lr_range,
    one_cycle,
    schedule_table,
    sgdr,
    warmup_cosine,
    wsd,
)


@pytest.mark.parametrize("pos, shown", [(float("nan"), "nan"), (-0.1, "-0.1"), (1.5, "1.5"),
                                         ([0.2, float("inf")], "inf")])
def test_bad_positions(pos, shown):
    for f in (SchedLin(0, 1), combined_cos(0.3, 1, 2, 0)):
        with pytest.raises(ValueError, match=f"positions must lie in \\[0, 1\\]; got {shown}"):
            f(pos)


@pytest.mark.parametrize(
    "pcts, match",
    [
        ([-0.1, 1.1], r"pcts must be finite and >= 0; got \[-0.1, 1.1\]"),
        ([float("nan"), 1.0], "pcts must be finite"),
        ([0.5, 0.4], r"must sum to 1 .*sum 0.9"),
        ([1.0], "got 1 pcts for 2 schedules"),
    ],
)
def test_bad_pcts(pcts, match):
    with pytest.raises(ValueError, match=match):
        combine_scheds(pcts, [SchedLin(0, 1), SchedLin(1, 0)][: 2 if "got 1" in match or len(pcts) == 2 else 1])


def test_pcts_sum_tolerance_accepts_float_noise():
    f = combine_scheds([0.7, 0.2, 0.1], [SchedNo(1, 1), SchedNo(2, 2), SchedNo(3, 3)])
    assert f([0.0, 0.8, 0.95]).tolist() == [1.0, 2.0, 3.0]
    combine_scheds([0.5, 0.5 + 5e-7], [SchedNo(1, 1)] * 2)  # within 1e-6
    with pytest.raises(ValueError, match="sum to 1"):
        combine_scheds([0.5, 0.5 + 5e-6], [SchedNo(1, 1)] * 2)


def test_empty_and_non_schedule_pieces():
    with pytest.raises(ValueError, match="scheds must not be empty"):
        combine_scheds([], [])
    # a plain callable is a schedule, as in fastai (test_fastai_compat); a number is not
    with pytest.raises(TypeError, match=r"scheds\[0\] must be a schedule \(a Schedule or a callable of pos\); got 0.5"):
        combine_scheds([1.0], [0.5])


@pytest.mark.parametrize("start, end", [(0, 1), (1, 0), (-1, 1), (1, -2), ([1, 0], [1, 1])])
def test_sched_exp_needs_nonzero_same_sign(start, end):
    with pytest.raises(ValueError, match="SchedExp needs non-zero start and end of the same sign"):
        SchedExp(start, end)


def test_sched_exp_negative_same_sign_is_fine():
    assert SchedExp(-1, -4)(0.5) == pytest.approx(-2.0)


@pytest.mark.parametrize("power", [0, -1, float("nan"), float("inf")])
def test_sched_poly_power(power):
    with pytest.raises(ValueError, match="power must be a finite number > 0; got"):
        SchedPoly(0, 1, power)
    with pytest.raises(TypeError, match="power must be a number; got '2'"):  # a string is the wrong type
        SchedPoly(0, 1, "2")


@pytest.mark.parametrize("cls", [SchedLin, SchedCos, SchedNo, SchedExp])
def test_non_finite_ends(cls):
    with pytest.raises(ValueError, match="start must be a finite number; got nan"):
        cls(float("nan"), 1.0)
    with pytest.raises(ValueError, match="start must be a number or a 1-D array"):
        cls([[1.0, 2.0]], 1.0)


def test_mismatched_group_lengths():
    with pytest.raises(ValueError, match=r"mismatched lengths \[2, 3\]"):
        SchedLin([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match=r"mismatched lengths \[2, 3\]"):
        combine_scheds([0.5, 0.5], [SchedLin([1, 2], 0), SchedLin([1, 2, 3], 0)])
    with pytest.raises(ValueError, match="expected 3 per-group values; got 2"):
        group_values([1, 2], 3)


@pytest.mark.parametrize("n", [0, -5, 2.5, True, "10"])
def test_n_steps(n):
    with pytest.raises((ValueError, TypeError), match="n_steps must be an integer >= 1|n_steps"):
        schedule_table(one_cycle(1e-3), n)


def test_table_start_stop_range():
    with pytest.raises(ValueError, match="need 0 <= start <= stop <= n_steps; got start=5, stop=3"):
        schedule_table(one_cycle(1e-3), 10, start=5, stop=3)


def test_slice_needs_groups_and_positive_end():
    with pytest.raises(ValueError, match=r"lr_max=slice\(None, 0.001, None\) is a slice: pass n_groups"):
        one_cycle(slice(1e-3))
    with pytest.raises(ValueError, match=r"slice end must be a finite number > 0; got -1.0"):
        group_values(slice(1e-3, -1.0), 2)
    with pytest.raises(ValueError, match=r"slice start must be a finite number > 0; got -0.001"):
        group_values(slice(-1e-3, 1e-2), 2)
    with pytest.raises(TypeError, match="a slice needs the number of parameter groups"):
        SchedLin(slice(1e-3), 0)


def test_unknown_policy_and_options():
    with pytest.raises(ValueError, match="unknown policy 'cyclic'"):
        get_policy("cyclic")
    with pytest.raises(TypeError, match="unexpected keyword argument 'lr_min'"):
        one_cycle(1e-3, lr_min=1e-5)
    with pytest.raises(ValueError, match="mode must be 'exp' or 'linear'; got 'cos'"):
        lr_range(mode="cos")
    with pytest.raises(ValueError, match="decay must be one of"):
        wsd(1e-3, 0.1, 0.1, decay="step")
    with pytest.raises(ValueError, match=r"warmup_pct \+ decay_pct must be <= 1; got 0.6 \+ 0.6"):
        wsd(1e-3, 0.6, 0.6)
    with pytest.raises(ValueError, match="pct_start must be a number in \\[0, 1\\]; got 1.5"):
        one_cycle(1e-3, pct_start=1.5)
    with pytest.raises(ValueError, match="div must be a finite number > 0; got 0"):
        one_cycle(1e-3, div=0)
    with pytest.raises(ValueError, match="warmup_pct must be a number in"):
        warmup_cosine(1e-3, -0.1)
    with pytest.raises(ValueError, match="lr must be a finite number >= 0; got nan"):
        flat_cos(float("nan"))
    with pytest.raises(ValueError, match="moms must be three values"):
        one_cycle(1e-3, moms=(0.9, 0.8))


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_cycles=0, cycle_len=1), "n_cycles must be an integer >= 1 and <= 100000; got 0"),
    (dict(n_cycles=2, cycle_len=0), "cycle_len must be a finite number > 0; got 0"),
    (dict(n_cycles=2, cycle_len=1, cycle_mult=-1), "cycle_mult must be a finite number > 0; got -1"),
    (dict(n_cycles=2, cycle_len=1, min_lr=-1), "min_lr must be a finite number >= 0; got -1"),
])
def test_sgdr_bad(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sgdr(lr_max=1e-3, **kwargs)


def test_no_silent_nan_over_extreme_but_valid_inputs():
    p = np.linspace(0, 1, 101)
    for f in (SchedExp(1e-300, 1e300), SchedCos(-1e300, 1e300), SchedPoly(0, 1, 1e-3),
              combine_scheds([1e-12, 1 - 1e-12], [SchedLin(0, 1), SchedCos(1, 0)]),
              sgdr(5, 1, 1e-3, cycle_mult=1.5)[0]["lr"]):
        assert np.all(np.isfinite(f(p)))
