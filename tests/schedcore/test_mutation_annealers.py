"""schedcore.annealers against written-out expectations, where the mutation run found holes:
the first out-of-range position named, per-group expansion limits and slice errors, the
overflow-safe (halved) evaluation and its clipping, and hashing."""

import numpy as np
import pytest

from schedcore import schedule_table
from schedcore._io import human_bytes, memory_available
from schedcore.annealers import (
    SchedCos,
    SchedExp,
    SchedLin,
    SchedNo,
    SchedPoly,
    as_positions,
    as_schedule,
    group_values,
)


def test_the_first_position_out_of_range_is_named_not_a_one_before_it():
    with pytest.raises(ValueError) as e:
        as_positions([1.0, 1.5])
    assert str(e.value) == "positions must lie in [0, 1]; got 1.5 at index (1,)"


@pytest.mark.skipif(memory_available() is None, reason="no memory figure on this platform")
def test_group_values_checks_the_memory_of_8_bytes_per_group_up_front():
    n = 10**15
    with pytest.raises(ValueError) as e:
        group_values(0.1, n)
    assert str(e.value).startswith(f"n_groups={n} per-group values would need {human_bytes(8 * n)} of memory; ")


@pytest.mark.parametrize(
    "value, message",
    [
        (slice(1e-3, -1.0), "value: slice end must be a finite number > 0; got -1.0 (in slice(0.001, -1.0, None))"),
        (slice(-1.0, 1e-2), "value: slice start must be a finite number > 0; got -1.0 (in slice(-1.0, 0.01, None))"),
    ],
)
def test_a_bad_slice_bound_is_named_with_the_whole_slice(value, message):
    with pytest.raises(ValueError) as e:
        group_values(value, 3)
    assert str(e.value) == message


def test_slice_spacing_when_the_ratio_underflows_to_zero():
    """start * (stop/start)**t with stop/start = 1e-600 (0.0 in floats): taken in logs instead."""
    np.testing.assert_allclose(group_values(slice(1e300, 1e-300), 3), [1e300, 1.0, 1e-300], rtol=1e-12)


# ------------------------------------------------------------- end - start beyond the float range


def test_halved_evaluation_scalar_and_per_group():
    """2 * (s/2 + w * (e/2 - s/2)): SchedLin(-1e308, 1e308) at p is 1e308 * (2p - 1)."""
    p = np.array([0.0, 0.25, 0.75])
    np.testing.assert_allclose(SchedLin(-1e308, 1e308)(p), 1e308 * (2 * p - 1), rtol=1e-15)
    grouped = SchedLin([-1e308, 0.0], [1e308, 1.0])(p)
    assert grouped.shape == (3, 2)
    np.testing.assert_allclose(grouped[:, 0], 1e308 * (2 * p - 1), rtol=1e-15)
    np.testing.assert_allclose(grouped[:, 1], p, rtol=1e-15)


@pytest.mark.parametrize(
    "start, end",
    [
        (-1.3679218776065893e308, 1.5048547226712359e308),  # rounds above end: clipped down
        (1.3826059398361188e308, -6.846561632298097e307),  # rounds below end: clipped up
    ],
)
def test_halved_cosine_just_before_the_end_stays_within_start_and_end(start, end):
    """At p = 1 - 2**-53 the halved formula lands just beyond ``end`` by rounding; the value
    is clipped to [min(start, end), max(start, end)], so it is ``end``."""
    assert SchedCos(start, end)(1.0 - 2.0**-53) == end


def test_different_annealers_hash_differently():
    scheds = [SchedLin(0, 1), SchedCos(0, 1), SchedLin(0, 2), SchedPoly(0, 1, 2.0), SchedExp(1, 2), SchedLin([0, 1], [1, 2])]
    assert len({hash(s) for s in scheds}) == len(scheds)
    assert hash(SchedLin(0, 1)) == hash(SchedLin(0.0, 1.0))


# ---------------------------------------------- the _eval contract: out= buffers, float32, is_sorted

P = np.arange(9) / 8  # ends at pos 1, where the value is ``end`` exactly
FORMULAS = [
    (SchedLin(0.5, 2.0), lambda p: 0.5 + 1.5 * p),
    (SchedCos(0.5, 2.0), lambda p: 0.5 + 1.5 * (1 - np.cos(np.pi * p)) / 2),
    (SchedPoly(0.5, 2.0, 3.0), lambda p: 0.5 + 1.5 * p**3),
    (SchedExp(0.5, 2.0), lambda p: 0.5 * 4.0**p),
    (SchedExp(-1e-300, -1e300), lambda p: -np.exp(np.log(1e-300) + p * (np.log(1e300) - np.log(1e-300)))),
    (SchedNo(0.5, 2.0), lambda p: 0.5 + 0 * p),
]


def evaluate(sched, p, dtype, is_sorted, out):
    """What a table does (Schedule's docstring): _eval on positions of the table's dtype,
    into a buffer of that dtype when one is given."""
    buffer = np.empty(p.shape + ((sched.n_groups,) if sched.n_groups else ()), dtype) if out else None
    values = sched._eval(p.astype(dtype), is_sorted=is_sorted, out=buffer)
    assert values.dtype == dtype and (buffer is None or values is buffer)
    return values


@pytest.mark.parametrize("sched, formula", FORMULAS, ids=lambda v: repr(v) if hasattr(v, "_eval") else "")
@pytest.mark.parametrize("dtype, out", [(np.float64, False), (np.float64, True), (np.float32, True)])
@pytest.mark.parametrize("is_sorted", [True, False])
def test_eval_follows_the_formula_into_a_buffer_of_either_dtype(sched, formula, dtype, out, is_sorted):
    if dtype == np.float32 and abs(sched.start) < 1e-38:
        return  # 1e-300 .. 1e300 is beyond float32
    values = evaluate(sched, P, dtype, is_sorted, out)
    with np.errstate(over="ignore"):
        expected = formula(P).astype(dtype)
    np.testing.assert_allclose(values, expected, rtol=2e-6 if dtype == np.float32 else 1e-12)
    if not isinstance(sched, SchedExp):  # SchedExp's end is "equal up to rounding" (its docstring)
        assert values[-1] == dtype(sched.start if isinstance(sched, SchedNo) else sched.end)  # the end exactly
    table = schedule_table(sched, 8, dtype=dtype)["lr"]  # rows 0..7 of 8 steps
    np.testing.assert_array_equal(table, values[:-1])


@pytest.mark.parametrize("dtype, out", [(np.float64, False), (np.float64, True), (np.float32, True)])
@pytest.mark.parametrize("cls", [SchedLin, SchedCos, SchedExp, SchedNo, lambda s, e: SchedPoly(s, e, 0.5)])
def test_per_group_values_are_the_scalar_schedules_side_by_side(cls, dtype, out):
    grouped = evaluate(cls([0.5, 4.0], [2.0, 1.0]), P, dtype, True, out)
    assert grouped.shape == (9, 2)
    for g, (s, e) in enumerate([(0.5, 2.0), (4.0, 1.0)]):
        np.testing.assert_array_equal(grouped[:, g], evaluate(cls(s, e), P, dtype, False, out))


def test_an_empty_table_and_the_default_name_in_as_schedule_errors():
    assert schedule_table(SchedLin(0, 1), 8, start=3, stop=3)["lr"].shape == (0,)
    with pytest.raises(TypeError) as e:
        as_schedule(0.1)
    assert str(e.value) == "schedule must be a schedule (a Schedule or a callable of pos); got 0.1"
