"""schedcore.annealers against written-out expectations, where the mutation run found holes:
the first out-of-range position named, per-group expansion limits and slice errors, the
overflow-safe (halved) evaluation and its clipping, and hashing."""

import numpy as np
import pytest

from schedcore._io import human_bytes, memory_available
from schedcore.annealers import SchedCos, SchedExp, SchedLin, SchedPoly, as_positions, group_values


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
