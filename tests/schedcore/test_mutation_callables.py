"""evaluate_callable's rule, call by call: one vectorised call when ``f`` gives an array of the
right shape, else exactly one call per position with Python floats (issue 14)."""

import functools
import math

import numpy as np
import pytest

from schedcore.callables import evaluate_callable


class Counted:
    """Wraps ``f``; records the shape of each argument (``()`` for a Python float)."""

    def __init__(self, f):
        self.f, self.calls = f, []

    def __call__(self, p):
        self.calls.append(np.shape(p) if isinstance(p, np.ndarray) else type(p).__name__)
        return self.f(p)


POS = np.array([0.0, 0.25, 0.5, 0.75])
POS2 = np.array([[0.0, 0.2, 0.4], [0.5, 0.7, 0.9]])  # 2-D positions: shape (2, 3)


def _per_position(n):
    return ["float"] * n


@pytest.mark.parametrize("f, pos, n_groups, want, calls", [
    # vectorised: one call with the array (pos[..., None] when n_groups is given)
    (lambda p: 1 - p, POS, None, 1 - POS, [(4,)]),
    (lambda p: p * np.array([1.0, 2.0, 3.0]), POS, 3, POS[:, None] * [1, 2, 3], [(4, 1)]),
    (lambda p: 2 * p, POS, 3, np.repeat(2 * POS[:, None], 3, 1), [(4, 1)]),  # (n, 1) broadcast to (n, 3)
    (lambda p: p * np.arange(1.0, 5.0), POS2, 4, POS2[..., None] * np.arange(1.0, 5.0), [(2, 3, 1)]),
    (lambda p: np.stack([p, 2 * p], -1), POS, None, np.stack([POS, 2 * POS], 1), [(4,)]),  # per-group, no n_groups
    (lambda p: np.stack([p, 2 * p], -1), POS2, None, np.stack([POS2, 2 * POS2], -1), [(2, 3)]),
    (lambda p: (p * 4).astype(np.int64), POS, None, [0.0, 1.0, 2.0, 3.0], [(4,)]),  # ints -> float64
    (lambda p: (p * 4).astype(np.int64), POS, 2, [[0.0] * 2, [1.0] * 2, [2.0] * 2, [3.0] * 2], [(4, 1)]),
    # per position: the array call failed or gave the wrong shape, then one call per position
    (lambda p: 0.5, POS, None, [0.5] * 4, [(4,)] + _per_position(4)),  # a scalar for an array
    (lambda p: 0.5, POS, 2, np.full((4, 2), 0.5), [(4, 1)] + _per_position(4)),
    (lambda p: 1 if p < 0.5 else 2, POS, None, [1.0, 1.0, 2.0, 2.0], [(4,)] + _per_position(4)),  # ints -> float64
    (lambda p: [p, 2 * p] if isinstance(p, float) else 0.0, POS, None, np.stack([POS, 2 * POS], 1), [(4,)] + _per_position(4)),
    (lambda p: [p, 2 * p, 3 * p] if isinstance(p, float) else 0.0, POS, 3, POS[:, None] * [1, 2, 3],
     [(4, 1)] + _per_position(4)),
    (lambda p: p if isinstance(p, float) else p[:1], POS, None, POS, [(4,)] + _per_position(4)),  # wrong length
    (lambda p: p if isinstance(p, float) else np.zeros((4, 2, 1)), POS, None, POS, [(4,)] + _per_position(4)),
    (lambda p: p if isinstance(p, float) else np.zeros((3, 3)), POS2, None, POS2, [(2, 3)] + _per_position(6)),
    (lambda p: p if isinstance(p, float) else np.zeros((2, 3, 3)), POS2, 4, np.repeat(POS2[..., None], 4, -1),
     [(2, 3, 1)] + _per_position(6)),  # last axis 3: neither 1 nor n_groups=4
    (lambda p: p if isinstance(p, float) else np.zeros((2, 4, 4)), POS2, 4, np.repeat(POS2[..., None], 4, -1),
     [(2, 3, 1)] + _per_position(6)),  # right last axis, wrong leading shape
    (lambda p: p if isinstance(p, float) else np.zeros((4, 2)), POS, 3, np.repeat(POS[:, None], 3, 1),
     [(4, 1)] + _per_position(4)),  # 2 values for 3 groups
])  # fmt: skip
def test_vectorised_once_else_once_per_position(f, pos, n_groups, want, calls):
    g = Counted(f)
    v = evaluate_callable(g, pos, n_groups)
    assert v.dtype == np.float64 and v.shape == np.shape(want)
    np.testing.assert_array_equal(v, want)
    assert g.calls == calls


def test_warnings_inside_the_vectorised_call_do_not_force_per_position_calls():
    """Only numpy's size-1-array DeprecationWarning means "scalar code"; log(0)'s RuntimeWarning is a value."""
    g = Counted(np.log)
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        v = evaluate_callable(g, np.array([0.0, 1.0]))
    assert v.tolist() == [-np.inf, 0.0] and g.calls == [(2,)]
    g = Counted(math.sqrt)  # math.sqrt(array([x])) works through a deprecated conversion: scalar code
    assert evaluate_callable(g, np.array([0.25])).tolist() == [0.5] and g.calls == [(1,), "float"]


def test_vectorised_array_is_used_as_is():
    """A float64 result of the right shape is the column itself: a big table is never copied."""
    pos = np.linspace(0, 1, 5)
    out = np.sin(pos)
    assert evaluate_callable(lambda p: out, pos) is out


def _two_by_two(p):
    return np.ones((2, 2)) if isinstance(p, float) else None


class Sched:
    def __call__(self, p):
        return np.ones((2, 2)) if isinstance(p, float) else None


@pytest.mark.parametrize("f, name", [
    (_two_by_two, "_two_by_two"),
    (functools.partial(_two_by_two), "_two_by_two"),
    (Sched(), "Sched"),
    (functools.partial(Sched()), "Sched"),
])  # fmt: skip
def test_values_of_a_bad_shape_name_the_schedule(f, name):
    with pytest.raises(ValueError, match=rf"^schedule {name} returned values of shape \(2, 2\) at one position$"):
        evaluate_callable(f, POS)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(TypeError, match=r"^pos must hold numbers; got 'a' \(str\)$"):
        evaluate_callable(lambda p: p, "a")
    with pytest.raises(ValueError, match=r"^n_groups must be an integer >= 1; got 0$"):
        evaluate_callable(lambda p: p, POS, 0)
    with pytest.raises(TypeError, match=r"^a schedule must be callable \(a function of pos\); got 0.5$"):
        evaluate_callable(0.5, POS)
    np.testing.assert_array_equal(evaluate_callable(lambda p: 3 * p, POS, 1), 3 * POS[:, None])  # n_groups=1 is valid
