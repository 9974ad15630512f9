"""The seed document's schedule examples (fastai's callback/schedule page), with only imports changed,
plus the notebook's known values."""

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
)

P5 = [0.0, 0.25, 0.5, 0.75, 1.0]


def test_eq(a, b):  # fastai's test_eq, test_close
    assert list(a) == list(b)


def test_close(a, b, eps=1e-5):
    np.testing.assert_allclose(np.asarray(list(a), dtype=float), np.asarray(b, dtype=float), atol=eps)


test_eq.__test__ = False
test_close.__test__ = False


def test_sched_lin():
    sched = SchedLin(0, 2)
    test_eq(map(sched, P5), [0.0, 0.5, 1.0, 1.5, 2.0])


def test_sched_cos():
    sched = SchedCos(0, 2)
    test_close(map(sched, P5), [0.0, 0.29289, 1.0, 1.70711, 2.0])


def test_sched_no():
    sched = SchedNo(0, 2)
    test_close(map(sched, P5), [0.0, 0.0, 0.0, 0.0, 0.0])


def test_sched_exp():
    sched = SchedExp(1, 2)
    test_close(map(sched, P5), [1.0, 1.18921, 1.41421, 1.68179, 2.0])


def test_sched_poly():
    sched = SchedPoly(0, 2, 2)
    test_close(map(sched, P5), [0.0, 0.125, 0.5, 1.125, 2.0])


def test_plot_examples_evaluate_on_linspace():
    """The seed's plotting cells: every annealer over a 100-point linspace, element by element."""
    p = np.linspace(0.0, 1, 100)
    for fn in [SchedNo, SchedLin, SchedCos, SchedExp]:
        vals = [fn(2, 1e-2)(o) for o in p]
        assert all(isinstance(v, float) for v in vals)
        np.testing.assert_array_equal(vals, fn(2, 1e-2)(p))
    for e in [0.5, 1.0, 2.0]:
        f = SchedPoly(2, 0, e)
        np.testing.assert_allclose([f(o) for o in p], 2 - 2 * p**e, atol=1e-12)


def test_combine_scheds_seed_plots():
    p = np.linspace(0.0, 1, 100)
    f = combine_scheds([0.3, 0.7], [SchedCos(0.3, 0.6), SchedCos(0.6, 0.2)])
    vals = np.array([f(o) for o in p])
    assert vals[0] == pytest.approx(0.3) and vals[-1] == pytest.approx(0.2)
    assert vals.max() == pytest.approx(0.6, abs=1e-3)


def test_combine_scheds_known_values():
    f = combine_scheds([0.3, 0.2, 0.5], [SchedLin(0.0, 1.0), SchedNo(1.0, 1.0), SchedCos(1.0, 0.0)])
    test_close(f([0, 0.15, 0.3, 0.4, 0.5, 0.7, 1]), [0, 0.5, 1, 1, 1, 0.65451, 0])


def test_combined_cos_known_values():
    f = combined_cos(0.25, 0.5, 1.0, 0.0)
    test_close(f([0, 0.1, 0.25, 0.5, 1]), [0.5, 0.67275, 1, 0.75, 0])


def test_combined_cos_per_group():
    f = combined_cos(0.25, np.array([0.25, 0.5]), np.array([0.5, 1]), np.array([0, 0]))
    out = f(np.array([0, 0.1, 0.25, 0.5, 1]))
    assert out.shape == (5, 2)
    np.testing.assert_allclose(
        out, [[0.25, 0.5], [0.33638, 0.67275], [0.5, 1], [0.375, 0.75], [0, 0]], atol=1e-5
    )
    # lists work as well as arrays
    np.testing.assert_allclose(f(0.1), combined_cos(0.25, [0.25, 0.5], [0.5, 1], [0, 0])(0.1))


def test_torch_tensor_positions():
    torch = pytest.importorskip("torch")
    p = torch.linspace(0.0, 1, 100)
    vals = [SchedCos(2, 1e-2)(o) for o in p]
    assert all(isinstance(v, float) for v in vals)
    np.testing.assert_allclose(vals, SchedCos(2, 1e-2)(p.numpy()))


def test_scalar_piece_among_per_group_pieces():
    """A scalar piece is broadcast over the groups of its per-group neighbours (both paths)."""
    f = combine_scheds([0.5, 0.5], [SchedLin([0.0, 1.0], [1.0, 2.0]), SchedNo(3.0, 3.0)])
    p = np.array([0.0, 0.25, 0.5, 1.0])
    expected = [[0.0, 1.0], [0.5, 1.5], [3.0, 3.0], [3.0, 3.0]]
    np.testing.assert_array_equal(f(p), expected)
    np.testing.assert_array_equal(f(p[::-1]), expected[::-1])
    np.testing.assert_array_equal(f._eval(p, is_sorted=True), expected)
