"""The guards' boundaries and messages, exactly (issue 14): inclusive vs strict bounds, ints vs
bools, 0-d arrays and tensors, and the full text of each message (parameter, range, value)."""

import os
import re
from pathlib import Path

import numpy as np
import pytest

from schedcore.guards import (
    as_array,
    check_float,
    check_fraction,
    check_int,
    check_path,
    check_positive,
    check_values,
)


class FakeTensor:
    """Duck-typed like a torch tensor: ``detach().cpu().numpy()`` gives the array."""

    def __init__(self, a):
        self.a = np.asarray(a)

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a


class Partial:
    """Has only some of a tensor's methods: not a tensor."""

    def __init__(self, *names):
        for n in names:
            setattr(self, n, lambda: None)

    def __repr__(self):
        return "Partial()"


class ArrayLike:
    """Not a list/array, but has ``__array__``."""

    def __init__(self, a):
        self.a = np.asarray(a)

    def __array__(self, dtype=None, copy=None):
        return self.a

    def __repr__(self):
        return f"ArrayLike({self.a.tolist()!r})"


def _exact(message):
    return "^" + re.escape(message) + "$"


# ------------------------------------------------------------------------------------ check_int


@pytest.mark.parametrize("value, kw, want", [
    (1, dict(min=1), 1), (5, dict(max=5), 5), (3, dict(min=3, max=3), 3), (-7, {}, -7),
    (np.int64(7), dict(min=1), 7), (np.array(4), {}, 4), (FakeTensor(6), dict(min=6), 6), (FakeTensor(np.int8(2)), {}, 2),
])  # fmt: skip
def test_check_int_inclusive_bounds(value, kw, want):
    n = check_int(value, "n", **kw)
    assert n == want and type(n) is int


@pytest.mark.parametrize("value, kw, message", [
    (0, dict(min=1), "n must be an integer >= 1; got 0"),
    (6, dict(max=5), "n must be an integer <= 5; got 6"),
    (-1, dict(min=0, max=5), "n must be an integer >= 0 and <= 5; got -1"),
    (np.int64(9), dict(min=0, max=5), "n must be an integer >= 0 and <= 5; got 9"),
])  # fmt: skip
def test_check_int_out_of_range_messages(value, kw, message):
    with pytest.raises(ValueError, match=_exact(message)):
        check_int(value, "n", **kw)


@pytest.mark.parametrize("value, shown", [
    (True, "True (bool)"), (np.bool_(False), "False (bool)"), (2.0, "2.0 (float)"), (None, "None (NoneType)"),
    ("x" * 78, repr("x" * 78) + " (str)"),  # a repr of 80 characters is shown whole
    ("x" * 79, "'" + "x" * 76 + "... (str)"),  # 81: cut to 77 characters and '...'
    (FakeTensor(1.5), "1.5 (float)"), (Partial("detach", "cpu"), "Partial() (Partial)"),
    (Partial("detach", "numpy"), "Partial() (Partial)"), (Partial("cpu", "numpy"), "Partial() (Partial)"),
])  # fmt: skip
def test_check_int_type_messages(value, shown):
    with pytest.raises(TypeError, match=_exact(f"n must be an integer; got {shown}")):
        check_int(value, "n")


# ---------------------------------------------------------------------------------- check_float


@pytest.mark.parametrize("value, kw", [
    (0, dict(min=0)), (1, dict(max=1)), (0.5, dict(min=0, max=1, min_open=True, max_open=True)),
    (0, dict(min=0, max=1, max_open=True)), (1, dict(min=0, max=1, min_open=True)), (-1e308, {}),
])  # fmt: skip
def test_check_float_accepts_bounds_unless_open(value, kw):
    x = check_float(value, "x", **kw)
    assert x == value and type(x) is float


@pytest.mark.parametrize("value, kw, message", [
    (0, dict(min=0, min_open=True), "x must be a finite number > 0; got 0"),
    (1.0, dict(max=1, max_open=True), "x must be a finite number < 1; got 1.0"),
    (-0.5, dict(min=0), "x must be a finite number >= 0; got -0.5"),
    (2, dict(max=1.5), "x must be a finite number <= 1.5; got 2"),
    (2, dict(min=0, max=1), "x must be a number in [0, 1]; got 2"),
    (0, dict(min=0, max=1, min_open=True), "x must be a finite number > 0 and <= 1; got 0"),
    (1, dict(min=0, max=1, max_open=True), "x must be a finite number >= 0 and < 1; got 1"),
    (1, dict(min=0, max=1, min_open=True, max_open=True), "x must be a finite number > 0 and < 1; got 1"),
    (float("nan"), {}, "x must be a finite number; got nan"),
    (float("-inf"), dict(max=1), "x must be a finite number <= 1; got -inf"),
    (-(10**400), {}, f"x must be a finite number; got {-(10**400)!r}"),
    (np.float32(2.0), dict(min=0, max=1), "x must be a number in [0, 1]; got 2.0"),
    (FakeTensor(3.0), dict(max=1), "x must be a finite number <= 1; got 3.0"),
])  # fmt: skip
def test_check_float_messages(value, kw, message):
    with pytest.raises(ValueError, match=_exact(message)):
        check_float(value, "x", **kw)


def test_check_float_type_messages():
    for value, shown in ((True, "True (bool)"), ("1", "'1' (str)"), ([1.0], "[1.0] (list)")):
        with pytest.raises(TypeError, match=_exact(f"x must be a number; got {shown}")):
            check_float(value, "x")


def test_check_positive_and_fraction():
    assert check_positive(5e-324, "div") == 5e-324 and check_positive(0.5, "div") == 0.5
    for value in (0, -1.0):
        with pytest.raises(ValueError, match=_exact(f"div must be a finite number > 0; got {value!r}")):
            check_positive(value, "div")
    assert [check_fraction(v, "pct") for v in (0, 0.5, 1)] == [0.0, 0.5, 1.0]
    for value in (-0.0001, 1.5):
        with pytest.raises(ValueError, match=_exact(f"pct must be a number in [0, 1]; got {value!r}")):
            check_fraction(value, "pct")


# --------------------------------------------------------------------------- as_array, check_values


def test_as_array():
    a = np.array([1.0, 2.0])
    assert as_array(a, "v") is a  # float64 input: no copy
    assert as_array(FakeTensor([1, 2]), "v").tolist() == [1.0, 2.0]
    for value in ([1, 2], np.array([1, 2], np.uint8), np.array([1, 2], np.float32)):
        b = as_array(value, "v")
        assert b.dtype == np.float64 and b.tolist() == [1.0, 2.0]
    for value, shown in (([True], "[True] (list)"), (np.array([1j]), "array([0.+1.j]) (ndarray)"), ("a", "'a' (str)")):
        with pytest.raises(TypeError, match=_exact(f"v must hold numbers; got {shown}")):
            as_array(value, "v")
    with pytest.raises(TypeError, match=r"^v must hold numbers; got Partial\(\) \(Partial\)$"):
        as_array(Partial("detach", "cpu"), "v")


@pytest.mark.parametrize("value, kw, want", [
    (2, {}, 2.0), (np.float32(0.5), {}, 0.5), (np.array(3.0), {}, 3.0), (ArrayLike(4.0), {}, 4.0),
    ([1.0], {}, [1.0]), ((0.0, 2.0), dict(min=0.0), [0.0, 2.0]), (FakeTensor([1.0, 2.0]), {}, [1.0, 2.0]),
    (ArrayLike([1.0, 2.0]), {}, [1.0, 2.0]), ([[1.0, 2.0]], dict(ndim=(2,)), [[1.0, 2.0]]),
])  # fmt: skip
def test_check_values_accepts(value, kw, want):
    v = check_values(value, "v", **kw)
    assert type(v) is (float if np.ndim(want) == 0 else np.ndarray)
    np.testing.assert_array_equal(v, want)


@pytest.mark.parametrize("value, kw, message", [
    (-1, dict(min=0.0), "v must be a finite number >= 0; got -1"),
    ([1.0, 2.0, float("nan")], {}, "v must hold finite numbers; got nan at index 2 of [1.0, 2.0, nan]"),
    (list(range(6)) + [-1], dict(min=0.0), "v must hold finite numbers >= 0; got -1.0 at index 6 of [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, ...]"),
    ([0, 1, 2, 3, 4, -5], dict(min=-1.0), "v must hold finite numbers >= -1; got -5.0 at index 5 of [0.0, 1.0, 2.0, 3.0, 4.0, -5.0]"),
    ([-0.5, 0.0], dict(min=-0.25), "v must hold finite numbers >= -0.25; got -0.5 at index 0 of [-0.5, 0.0]"),
    ([[1.0, 2.0], [3.0, float("inf")]], dict(ndim=(1, 2)),
     "v must hold finite numbers; got inf at index (1, 1) of [1.0, 2.0, 3.0, inf]"),
    (ArrayLike(float("nan")), {}, "v must hold finite numbers; got nan of [nan]"),
    (ArrayLike(-2.0), dict(min=0.0), "v must hold finite numbers >= 0; got -2.0 of [-2.0]"),
    ([[1.0]], {}, "v must be 0-D or 1-D; got shape (1, 1)"),
    ([1.0], dict(ndim=(2, 3)), "v must be 2-D or 3-D; got shape (1,)"),
    ([], {}, "v must not be empty; got [] (list)"),
])  # fmt: skip
def test_check_values_messages(value, kw, message):
    with pytest.raises(ValueError, match=_exact(message)):
        check_values(value, "v", **kw)


def test_check_path():
    assert check_path("a/t.csv") == Path("a/t.csv") and check_path(Path("b"), "out") == Path("b")

    class P(os.PathLike):
        def __fspath__(self):
            return "c.npz"

    assert check_path(P()) == Path("c.npz")
    for value, shown in ((b"t.csv", "b't.csv' (bytes)"), (3, "3 (int)")):
        with pytest.raises(TypeError, match=_exact(f"out must be a str or os.PathLike; got {shown}")):
            check_path(value, "out")
