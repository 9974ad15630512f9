"""combine_scheds / combined_cos: closed-form values at and around piece boundaries, guards."""

import numpy as np
import pytest

from schedcore import SchedCos, SchedLin, SchedNo
from schedcore.combine import combine_scheds, combined_cos


def cos_ramp(a, b, t):
    return b + (a - b) * (1 + np.cos(np.pi * t)) / 2


@pytest.mark.parametrize("sorted_input", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_combined_cos_at_and_between_boundaries(sorted_input, dtype):
    """pos < pct: cos from start to middle at pos/pct; pos >= pct: middle to end at (pos-pct)/(1-pct)."""
    pct, start, middle, end = 0.25, 0.5, 2.0, -1.0
    p = np.array([0.0, 0.125, 0.25, 0.625, 1.0], dtype=dtype)
    expected = [start, cos_ramp(start, middle, 0.5), middle, cos_ramp(middle, end, 0.5), end]
    f = combined_cos(pct, start, middle, end)
    got = f(p) if sorted_input else f(p[::-1])[::-1]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_combine_boundaries_belong_to_the_later_piece_and_empty_pieces_are_skipped():
    f = combine_scheds([0.5, 0.0, 0.5], [SchedLin(0, 10), SchedNo(99, 99), SchedLin(20, 30)])
    np.testing.assert_allclose(f([0.0, 0.25, 0.5, 0.75, 1.0]), [0.0, 5.0, 20.0, 25.0, 30.0])
    g = combine_scheds([0.5, 0.5, 0.0], [SchedLin(0, 10), SchedLin(20, 30), SchedNo(99, 99)])
    assert g(1.0) == 30.0  # pos 1 goes to the last non-empty piece, at its local position 1


def test_per_group_pieces_next_to_scalar_ones():
    f = combine_scheds([0.5, 0.5], [SchedLin([0.0, 1.0], [2.0, 3.0]), SchedCos(4.0, 0.0)])
    np.testing.assert_allclose(f([0.25, 0.75]), [[1.0, 2.0], [2.0, 2.0]])


@pytest.mark.parametrize("name, args", [("start", ("x", 1, 0)), ("middle", (1, "x", 0)), ("end", (1, 1, "x"))])
def test_combined_cos_names_the_bad_value(name, args):
    with pytest.raises(TypeError, match=f"^{name} must be a number"):
        combined_cos(0.5, *args)


def test_pcts_sum_tolerance_and_normalised_bounds():
    """Within the tolerance pcts are divided by their sum s: boundaries c_i / s, the last one 1."""
    s = 1.0 + 9e-7
    f = combine_scheds([0.5, 0.5 + 9e-7], [SchedLin(0, 1e6), SchedLin(0, 1e6)])
    np.testing.assert_allclose(f([0.25, 1.0]), [0.25 / (0.5 / s) * 1e6, 1e6], rtol=1e-12)
    assert f(1.0) == 1e6
    with pytest.raises(ValueError, match="must sum to 1"):
        combine_scheds([0.5, 0.5 + 1.1e-6], [SchedNo(1, 1)] * 2)


def test_bounds_like_rounds_up_to_the_nearest_value_of_ps_dtype():
    from schedcore.combine import _bounds_like

    bounds = np.array([0.0, 0.1, 0.3, 0.5, 1.0])
    assert _bounds_like(bounds, np.zeros(2)) is bounds  # same dtype: as is
    got = _bounds_like(bounds, np.zeros(2, dtype=np.float32))
    assert got.dtype == np.float32
    below = np.nextafter(got, np.float32(-np.inf))
    assert np.all(got >= bounds) and np.all(below < bounds)  # the smallest float32 >= each bound
    assert got[[0, 3, 4]].tolist() == [0.0, 0.5, 1.0]


def test_jumps_at_boundaries_in_either_order_and_nested_unsorted_positions():
    """A boundary belongs to the later piece on both paths (sorted arrays, and anything else);
    a trailing empty piece hands pos 1 to the last non-empty one on both paths as well."""
    f = combine_scheds([0.5, 0.5, 0.0], [SchedLin(0, 10), SchedLin(20, 30), SchedNo(99, 99)])
    np.testing.assert_array_equal(f([0.0, 0.5, 1.0]), [0.0, 20.0, 30.0])
    np.testing.assert_array_equal(f([1.0, 0.5, 0.0]), [30.0, 20.0, 0.0])
    np.testing.assert_array_equal(f(np.array([[0.5, 1.0]])), [[20.0, 30.0]])
    inner = combine_scheds([0.5, 0.5], [SchedLin(0, 1), SchedLin(10, 11)])
    nested = combine_scheds([0.5, 0.5], [inner, SchedNo(5, 5)])
    # positions 0.4, 0.1, 0.3 are 0.8, 0.2, 0.6 in the first piece: 10 + (0.8-0.5)/0.5, 0.2/0.5, 10 + 0.1/0.5
    np.testing.assert_allclose(nested([0.4, 0.1, 0.3, 0.9]), [10.6, 0.4, 10.2, 5.0])
