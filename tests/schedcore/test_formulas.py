"""Policies, per-group values and tables against closed-form formulas (the optax way).

Each expectation is written out from design.md's formulas with numpy, independently of the
annealers: ``cos_between(a, b, t) = a + (b - a) * (1 - cos(pi*t)) / 2`` and so on.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedcore import (
    SchedLin,
    flat_cos,
    group_values,
    lr_range,
    one_cycle,
    schedule_table,
    sgdr,
    warmup_cosine,
    wsd,
)

PROPS = settings(deadline=None)  # examples and seed: the profile (conftest.py)
positive = st.floats(min_value=1e-6, max_value=1e2)
unit = st.floats(min_value=0.0, max_value=1.0)
positions = st.lists(unit, min_size=1, max_size=30).map(np.array)


def cos_between(a, b, t):
    """Cosine annealing from a (t=0) to b (t=1)."""
    return a + (b - a) * (1 - np.cos(np.pi * t)) / 2


def two_phase(p, pct, first, second):
    """``first(p/pct)`` before ``pct``, ``second((p - pct)/(1 - pct))`` from ``pct`` on."""
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p < pct, first(p / pct), second((p - pct) / (1 - pct)))


def close(actual, expected, rel=1e-9, scale=None):
    """Equal within ``rel`` relative to each value, or to ``scale`` (the size of the inputs: a
    formula's rounding near a zero crossing is relative to them, not to the value)."""
    scale = np.max(np.abs(expected), initial=0) if scale is None else scale
    np.testing.assert_allclose(actual, expected, rtol=rel, atol=rel * scale)


# --------------------------------------------------------------------------------- group_values


@given(positive, st.integers(1, 8))
def test_slice_stop_only_is_a_tenth_except_the_last_group(b, n):
    """slice(b) -> b/10 for every group but the last, which gets b (fastai's rule)."""
    expected = [b / 10] * (n - 1) + [b]
    assert group_values(slice(b), n).tolist() == expected
    assert group_values(slice(0, b), n).tolist() == expected  # a zero start is no start


@given(positive, positive, st.integers(2, 8))
def test_slice_start_stop_is_geometric(a, b, n):
    """slice(a, b) -> a * (b/a)**(i/(G-1)): a at the first group, b at the last."""
    v = group_values(slice(a, b), n)
    close(v, a * (b / a) ** (np.arange(n) / (n - 1)), rel=1e-12)
    assert v[0] == a and math.isclose(v[-1], b, rel_tol=1e-12)


def test_slice_start_of_one_is_a_start():
    """Only a missing or zero start means slice(b); slice(1, 100) is geometric from 1."""
    assert group_values(slice(1.0, 100.0), 3).tolist() == [1.0, 10.0, 100.0]


@pytest.mark.parametrize("bad", [slice(float("inf")), slice(float("nan")), slice(0.0), slice(-1.0), slice(None)])
def test_slice_end_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match=r"slice end must be a (finite )?number > 0"):
        group_values(bad, 2)


def test_slice_with_one_group_is_its_stop():
    assert group_values(slice(1e-4, 1e-2), 1).tolist() == [1e-2]
    assert group_values(slice(1e-2), 1).tolist() == [1e-2]


@given(st.floats(-1e3, 1e3), st.integers(1, 6))
def test_scalar_is_every_group(x, n):
    v = group_values(x, n)
    assert v.shape == (n,) and v.tolist() == [x] * n
    assert group_values(np.float32(0.5), n).tolist() == [0.5] * n


def test_array_is_used_as_is_and_copied():
    given_values = np.array([1e-4, 2e-3, 3e-2])
    v = group_values(given_values, 3)
    assert v.tolist() == [1e-4, 2e-3, 3e-2] and v is not given_values
    v[0] = 1.0
    assert given_values[0] == 1e-4
    assert group_values([1, 2], 2).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="expected 3 per-group values; got 2"):
        group_values([1.0, 2.0], 3)


@pytest.mark.parametrize("n", [0, -1])
def test_group_count_must_be_positive_integer(n):
    with pytest.raises(ValueError, match=f"n_groups must be an integer >= 1; got {n!r}"):
        group_values(1.0, n)
    with pytest.raises(TypeError, match="n_groups must be an integer; got 1.5"):  # the wrong type (issue 11 guards)
        group_values(1.0, 1.5)


def test_policies_expand_slices_per_group():
    lr = one_cycle(slice(1e-2), n_groups=3)["lr"]
    close(lr(0.25), [1e-3, 1e-3, 1e-2], rel=1e-12)
    close(flat_cos(slice(1e-4, 1e-2), n_groups=3)["lr"](0.0), [1e-4, 1e-3, 1e-2], rel=1e-12)


# ------------------------------------------------------------------------------------- policies


@PROPS
@given(positive, st.floats(1.5, 100), st.floats(1.5, 1e6), st.floats(0.05, 0.95), positions)
def test_one_cycle_formula(lr, div, div_final, pct, p):
    """lr: cosine lr/div -> lr over pct_start, then lr -> lr/div_final; mom 0.95 -> 0.85 -> 0.95."""
    s = one_cycle(lr, div=div, div_final=div_final, pct_start=pct)
    expected = two_phase(p, pct, lambda t: cos_between(lr / div, lr, t), lambda t: cos_between(lr, lr / div_final, t))
    close(s["lr"](p), expected, scale=lr)
    mom = two_phase(p, pct, lambda t: cos_between(0.95, 0.85, t), lambda t: cos_between(0.85, 0.95, t))
    close(s["mom"](p), mom)


@PROPS
@given(positive, positions)
def test_one_cycle_defaults(lr, p):
    """Defaults div=25, div_final=1e5, pct_start=0.25, moms=(0.95, 0.85, 0.95)."""
    s = one_cycle(lr)
    close(s["lr"](p), two_phase(p, 0.25, lambda t: cos_between(lr / 25, lr, t), lambda t: cos_between(lr, lr / 1e5, t)), scale=lr)
    close(s["mom"](p), two_phase(p, 0.25, lambda t: cos_between(0.95, 0.85, t), lambda t: cos_between(0.85, 0.95, t)))
    assert s["lr"](0.0) == lr / 25 and s["lr"](0.25) == lr and math.isclose(s["lr"](1.0), lr / 1e5, rel_tol=1e-12)
    assert (s["mom"](0.0), s["mom"](0.25), s["mom"](1.0)) == (0.95, 0.85, 0.95)


def test_one_cycle_custom_moms_and_none():
    s = one_cycle(1.0, moms=(0.9, 0.8, 0.7), pct_start=0.5)
    assert s["mom"]([0.0, 0.5, 1.0]).tolist() == [0.9, 0.8, 0.7]
    close(s["mom"](0.25), cos_between(0.9, 0.8, 0.5))
    assert sorted(one_cycle(1.0, moms=None)) == ["lr"]


@PROPS
@given(positive, st.floats(1.5, 1e6), st.floats(0.05, 0.95), positions)
def test_flat_cos_formula(lr, div_final, pct, p):
    """lr flat until pct_start, then a cosine from lr to lr/div_final."""
    f = flat_cos(lr, div_final=div_final, pct_start=pct)["lr"]
    close(f(p), two_phase(p, pct, lambda t: np.full_like(t, lr), lambda t: cos_between(lr, lr / div_final, t)), scale=lr)
    assert math.isclose(f(1.0), lr / div_final, rel_tol=1e-12)


def test_flat_cos_defaults():
    f = flat_cos(2.0)["lr"]
    assert f([0.0, 0.75]).tolist() == [2.0, 2.0] and f(1.0) == 2e-5
    close(f(0.875), cos_between(2.0, 2e-5, 0.5))


@PROPS
@given(st.integers(1, 4), st.sampled_from([1, 2, 0.5]), st.sampled_from([1, 2, 1.5]), positive,
       st.floats(0.1, 1.0), st.floats(0.0, 1e-3), positions)
def test_sgdr_formula(n_cycles, cycle_len, mult, lr, decay, min_lr, p):
    """Cycle i spans cycle_len*mult**i epochs and is a cosine from lr*decay**i down to min_lr."""
    scheds, n_epoch = sgdr(n_cycles, cycle_len, lr, cycle_mult=mult, min_lr=min_lr, cycle_decay=decay)
    lengths = cycle_len * np.power(float(mult), np.arange(n_cycles))
    assert math.isclose(n_epoch, lengths.sum(), rel_tol=1e-12)
    bounds = np.r_[0.0, np.cumsum(lengths)] / lengths.sum()
    i = np.minimum(np.searchsorted(bounds, p, side="right") - 1, n_cycles - 1)
    local = (p - bounds[i]) / (bounds[i + 1] - bounds[i])
    expected = cos_between(lr * decay**i, min_lr, local)
    close(scheds["lr"](p), expected, rel=1e-8, scale=lr)


def test_sgdr_cycle_decay_peaks():
    scheds, n_epoch = sgdr(3, 1, 1.0, cycle_mult=1, cycle_decay=0.5, min_lr=0.1)
    assert n_epoch == 3
    close(scheds["lr"]([0.0, 1 / 3, 2 / 3, 1.0]), [1.0, 0.5, 0.25, 0.1], rel=1e-12)
    close(scheds["lr"](1 / 6), cos_between(1.0, 0.1, 0.5))


def test_sgdr_n_epoch_is_int_for_whole_cycles_and_float_otherwise():
    assert sgdr(3, 1, 1.0)[1] == 7 and isinstance(sgdr(3, 1, 1.0)[1], int)
    assert sgdr(2, 1, 1.0, cycle_mult=1.5)[1] == 2.5


DECAYS = {
    "cos": lambda a, b, t: cos_between(a, b, t),
    "linear": lambda a, b, t: a + (b - a) * t,
    "sqrt": lambda a, b, t: a + (b - a) * np.sqrt(np.maximum(t, 0)),  # np.where evaluates every branch
}


@PROPS
@given(positive, st.floats(0.05, 0.4), st.floats(0.05, 0.5), st.sampled_from(sorted(DECAYS)),
       st.floats(0.0, 1e-3), st.floats(0.0, 1e-3), positions)
def test_wsd_formula(lr, w, d, decay, min_lr, start, p):
    """Linear warmup start -> lr over w, flat lr, then the decay lr -> min_lr over the last d."""
    f = wsd(lr, w, d, min_lr=min_lr, decay=decay, warmup_start=start)["lr"]
    stable_end = 1 - d
    expected = np.where(
        p < w, start + (lr - start) * p / w,
        np.where(p < stable_end, lr, DECAYS[decay](lr, min_lr, (p - stable_end) / d)),
    )
    # sqrt has an infinite slope at 0: a boundary rounded by eps moves the value by ~sqrt(eps)
    close(f(p), expected, rel=1e-7 if decay == "sqrt" else 1e-8, scale=max(lr, min_lr, start))


def test_wsd_sqrt_known_values():
    f = wsd(1.0, 0.0, 0.5, decay="sqrt")["lr"]
    close(f([0.0, 0.5, 0.625, 1.0]), [1.0, 1.0, 0.5, 0.0], rel=1e-12)


@PROPS
@given(positive, st.floats(0.05, 0.95), st.floats(0.0, 1e-3), st.floats(0.0, 1e-3), positions)
def test_warmup_cosine_formula(lr, w, min_lr, start, p):
    f = warmup_cosine(lr, w, min_lr=min_lr, warmup_start=start)["lr"]
    close(f(p), two_phase(p, w, lambda t: start + (lr - start) * t, lambda t: cos_between(lr, min_lr, t)), rel=1e-8, scale=max(lr, min_lr, start))


@PROPS
@given(positive, positive, positions)
def test_lr_range_exp_and_linear(a, b, p):
    close(lr_range(a, b)["lr"](p), a * (b / a) ** p, rel=1e-9)
    # at p == 1 the schedule gives exactly b (design.md); a + (b - a)*1 misses it by rounding when b << a
    close(lr_range(a, b, mode="linear")["lr"](p), np.where(p == 1, b, a + (b - a) * p), rel=1e-12)


def test_lr_range_defaults():
    f = lr_range()["lr"]
    close(f([0.0, 0.5, 1.0]), [1e-7, 1e-3, 10.0], rel=1e-12)
    assert lr_range(mode="linear")["lr"](0.5) == 1e-7 + (10 - 1e-7) * 0.5
    with pytest.raises(ValueError, match="mode must be 'exp' or 'linear'; got 'cos'"):
        lr_range(mode="cos")


# --------------------------------------------------------------------------------------- tables


def test_row_of_a_sliced_table_uses_absolute_steps():
    t = schedule_table({"lr": SchedLin(0, 1), "wd": SchedLin([0.0, 10.0], [1.0, 20.0])}, 10, start=4, stop=8)
    assert (t.start, t.rows, t.n_steps) == (4, 4, 10)
    assert t.steps.tolist() == [4, 5, 6, 7] and t.pos.tolist() == [0.4, 0.5, 0.6, 0.7]
    r = t.row(4)
    assert r["lr"] == 0.4 and r["wd"].tolist() == [0.4, 14.0]
    assert t.row(7)["lr"] == 0.7 and t.row(7)["wd"].tolist() == [0.7, 17.0]
    for k in (3, 8, 0):
        with pytest.raises(IndexError, match=rf"step {k} is outside this table's steps \[4, 8\)"):
            t.row(k)
    assert repr(t) == "ScheduleTable(n_steps=10, start=4, {lr: (4,), wd: (4, 2)})"


@given(st.integers(1, 300), st.data())
def test_table_rows_are_f_of_k_over_n(n, data):
    start = data.draw(st.integers(0, n))
    stop = data.draw(st.integers(start, n))
    t = schedule_table(one_cycle(1.0), n, start=start, stop=stop)
    k = np.arange(start, stop)
    close(t["lr"], two_phase(k / n, 0.25, lambda x: cos_between(0.04, 1.0, x), lambda x: cos_between(1.0, 1e-5, x)))
    assert t.rows == stop - start and len(t) == 2 and list(t) == ["lr", "mom"]
    if stop > start:
        assert t.row(stop - 1)["lr"] == t["lr"][-1] and t.row(start)["mom"] == t["mom"][0]


# ------------------------------------------------------------------- per-group and bad arguments


@pytest.mark.parametrize(
    "make",
    [
        lambda lr, **k: warmup_cosine(lr, 0.5, **k)["lr"],
        lambda lr, **k: wsd(lr, 0.25, 0.25, **k)["lr"],
        lambda lr, **k: sgdr(1, 1, lr, **k)[0]["lr"],
        lambda lr, **k: flat_cos(lr, **k)["lr"],
    ],
)
def test_every_policy_expands_a_slice_over_n_groups(make):
    """slice(a, b) with n_groups=3 gives the columns a, sqrt(a*b), b at the peak (pos 0.5)."""
    f = make(slice(1e-4, 1e-2), n_groups=3)
    close(f(0.5) / make(1.0)(0.5), [1e-4, 1e-3, 1e-2], rel=1e-12)
    with pytest.raises(ValueError, match="expected 3 per-group values; got 2"):
        make([1e-3, 1e-2], n_groups=3)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: flat_cos(1.0, div_final=0), "div_final must be a finite number > 0; got 0"),
        (lambda: one_cycle(1.0, div_final=-1.0), "div_final must be a finite number > 0; got -1.0"),
        (lambda: flat_cos(1.0, pct_start=2), r"pct_start must be a number in \[0, 1\]; got 2"),
        (lambda: flat_cos(slice(1.0)), r"lr=slice\(None, 1.0, None\) is a slice: pass n_groups"),
        (lambda: one_cycle(None), "lr_max is required; got None"),
        (lambda: sgdr(2, 1, 1.0, cycle_decay=0), "cycle_decay must be a finite number > 0; got 0"),
        (lambda: wsd(1.0, -0.5, 0.1), r"warmup_pct must be a number in \[0, 1\]; got -0.5"),
        (lambda: wsd(1.0, 0.1, 1.5), r"decay_pct must be a number in \[0, 1\]; got 1.5"),
        (lambda: warmup_cosine(1.0, 0.1, min_lr=float("nan")), "min_lr|end must be finite"),
    ],
)
def test_bad_policy_arguments_name_the_parameter(call, message):
    with pytest.raises((ValueError, TypeError), match=message):  # None for a number: TypeError (issue 11 guards)
        call()


def test_get_policy_accepts_hyphens():
    from schedcore import get_policy

    assert get_policy("one-cycle") is one_cycle and get_policy("flat-cos") is flat_cos and get_policy("wsd") is wsd


def test_pct_start_may_be_0_or_1():
    """pct_start is in [0, 1], ends included: all warm-up (or all flat), or no warm-up."""
    assert flat_cos(2.0, pct_start=1.0)["lr"]([0.0, 0.5, 1.0]).tolist() == [2.0, 2.0, 2.0]
    close(one_cycle(1.0, pct_start=1.0)["lr"]([0.0, 0.5, 1.0]), [0.04, cos_between(0.04, 1.0, 0.5), 1.0])
    close(one_cycle(1.0, pct_start=0.0)["lr"]([0.0, 0.5, 1.0]), [1.0, cos_between(1.0, 1e-5, 0.5), 1e-5])


def test_wsd_accepts_warmup_plus_decay_up_to_one_plus_rounding():
    assert 0.5 + (0.5 + 1e-12) == 1 + 1e-12  # the tolerance itself is accepted
    close(wsd(1.0, 0.5, 0.5 + 1e-12, decay="linear")["lr"]([0.0, 0.25, 0.5, 0.75]), [0.0, 0.5, 1.0, 0.5])
    with pytest.raises(ValueError, match="warmup_pct \\+ decay_pct must be <= 1"):
        wsd(1.0, 0.5, 0.5 + 2e-12)
