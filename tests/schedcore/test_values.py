"""Annealers as values: equality, hashing, repr, and @annealer schedules against their formula.

Expectations are closed-form formulas (``start + (end - start) * w(pos)``) or literal numbers,
never a schedule compared with a copy of itself.
"""

import functools
import math
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedcore import SchedCos, SchedExp, SchedLin, SchedNo, SchedPoly, annealer

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)
unit = st.floats(min_value=0.0, max_value=1.0)
positions = st.lists(unit, min_size=1, max_size=20).map(np.array)


@annealer
def sched_square(start, end, pos):
    """A user annealer at module level (so that it pickles by reference)."""
    return start + (end - start) * pos**2


@annealer
def sched_sqrt(start, end, pos):
    return start + (end - start) * np.sqrt(pos)


# ------------------------------------------------------------------------------- equality, hash


def test_equal_fields_are_equal_and_hash_alike():
    pairs = [
        (SchedLin(0, 1), SchedLin(0.0, 1.0)),
        (SchedCos(2, 1e-2), SchedCos(2.0, 0.01)),
        (SchedPoly(0, 2, 2), SchedPoly(0.0, 2.0, 2.0)),
        (SchedExp([1.0, 2.0], 3.0), SchedExp(np.array([1, 2]), 3)),
        (sched_square(0, 4), sched_square(0.0, 4.0)),
    ]
    for a, b in pairs:
        assert a == b and not (a != b)
        assert hash(a) == hash(b)
    assert len({a for pair in pairs for a in pair}) == len(pairs)


@pytest.mark.parametrize(
    "a, b",
    [
        (SchedLin(0, 1), SchedLin(0, 2)),
        (SchedLin(0, 1), SchedLin(0.5, 1)),
        (SchedLin(0, 1), SchedCos(0, 1)),  # same fields, other curve
        (SchedLin(1, 1), SchedNo(1, 1)),  # equal values everywhere, but another type
        (SchedPoly(0, 2, 2), SchedPoly(0, 2, 3)),  # power is a field
        (SchedLin([1.0], [2.0]), SchedLin(1.0, 2.0)),  # one group gives shape (..., 1): not the same
        (SchedLin([1.0, 2.0], 0), SchedLin([1.0, 2.5], 0)),
        (SchedLin([1.0, 2.0], 0), SchedLin([1.0, 2.0, 3.0], 0)),
        (sched_square(0, 4), sched_sqrt(0, 4)),  # same fields, other function
        (sched_square(0, 4), sched_square(1, 4)),
    ],
)
def test_different_fields_are_not_equal(a, b):
    assert a != b and b != a and not (a == b)


def test_many_groups_differing_in_one_value_are_not_equal():
    """A repr truncates arrays above 1000 entries: equality must not go through it."""
    start = np.linspace(1.0, 2.0, 2000)
    other = start.copy()
    other[1000] += 1e-3
    a, b = SchedLin(start, 0.0), SchedLin(other, 0.0)
    assert repr(a) == repr(b)  # numpy's summarised repr hides the difference
    assert a != b
    assert a == SchedLin(start.copy(), 0.0) and hash(a) == hash(SchedLin(start.copy(), 0.0))


def test_not_equal_to_other_objects():
    assert SchedLin(0, 1) != (0, 1) and SchedLin(0, 1) != "SchedLin(0.0, 1.0)" and SchedLin(0, 1) != 0.5


def test_per_group_values_are_copied_and_read_only():
    """Mutating the caller's array later changes neither the schedule nor its hash."""
    lrs = np.array([1.0, 2.0])
    f = SchedLin(lrs, 0.0)
    h = hash(f)
    lrs[0] = 5.0
    assert f.start.tolist() == [1.0, 2.0] and hash(f) == h
    assert f(0.5).tolist() == [0.5, 1.0]
    with pytest.raises(ValueError):
        f.start[0] = 5.0


@given(st.sampled_from([SchedLin, SchedCos, SchedNo, SchedExp]), st.floats(0.1, 10), st.floats(0.1, 10))
def test_equality_and_hash_survive_pickling(cls, s, e):
    f = cls(s, e)
    g = pickle.loads(pickle.dumps(f))
    assert g == f and hash(g) == hash(f) and g is not f


# -------------------------------------------------------------------------------------- repr


def test_repr_states_type_and_fields():
    assert repr(SchedLin(0, 2)) == "SchedLin(0.0, 2.0)"
    assert repr(SchedCos(1e-3, 1e-5)) == "SchedCos(0.001, 1e-05)"
    assert repr(SchedExp(1, 10)) == "SchedExp(1.0, 10.0)"
    assert repr(SchedNo(3, 4)) == "SchedNo(3.0, 4.0)"
    assert repr(SchedPoly(0, 2, 0.5)) == "SchedPoly(0.0, 2.0, 0.5)"
    assert repr(SchedLin([1, 2], 0)) == "SchedLin([1., 2.], 0.0)"
    assert repr(sched_square(0, 4)) == "sched_square(0.0, 4.0)"
    assert repr(annealer(lambda s, e, p: s)(1, 2)) == "<lambda>(1.0, 2.0)"


# ------------------------------------------------------------------------------------ @annealer


@given(finite, finite, positions)
def test_annealer_values_are_the_function_values(s, e, p):
    """``@annealer f`` evaluated at ``p`` is ``f(start, end, p)``, elementwise and per float."""
    v = sched_square(s, e)(p)
    np.testing.assert_allclose(v, s + (e - s) * p**2, rtol=1e-12, atol=1e-12)
    x = float(p[0])
    assert math.isclose(sched_square(s, e)(x), s + (e - s) * x**2, rel_tol=1e-12, abs_tol=1e-12)


def test_annealer_known_values_scalar_and_per_group():
    f = sched_sqrt(1.0, 5.0)
    assert f([0.0, 0.25, 1.0]).tolist() == [1.0, 3.0, 5.0]
    g = sched_square([0.0, 10.0], [4.0, 30.0])
    assert g([0.0, 0.5, 1.0]).tolist() == [[0.0, 10.0], [1.0, 15.0], [4.0, 30.0]]
    assert g(0.5).tolist() == [1.0, 15.0]
    # a function ignoring pos still gives the caller's shape
    const = annealer(lambda s, e, p: s)(2.0, 3.0)
    assert const(np.zeros((2, 3))).tolist() == [[2.0] * 3] * 2
    assert const(0.7) == 2.0


def test_annealer_pickles_by_name_and_keeps_its_values():
    g = pickle.loads(pickle.dumps(sched_square(0, 4)))
    assert g([0.0, 0.5, 1.0]).tolist() == [0.0, 1.0, 4.0]
    assert repr(g) == "sched_square(0.0, 4.0)"


def test_annealer_per_group_at_as_many_positions_as_groups():
    """Two positions and two groups must not broadcast position i with group i."""
    g = sched_square([0.0, 10.0], [4.0, 30.0])
    assert g([0.0, 0.5]).tolist() == [[0.0, 10.0], [1.0, 15.0]]


def test_annealer_from_a_nameless_callable():
    """A partial has no __name__: the repr says 'annealer'; the values follow the function."""

    def power(start, end, pos, k=2):
        return start + (end - start) * pos**k

    f = annealer(functools.partial(power, k=3))(0, 8)
    assert repr(f) == "annealer(0.0, 8.0)"
    assert f([0.0, 0.5, 1.0]).tolist() == [0.0, 1.0, 8.0]
