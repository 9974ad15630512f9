"""Hypothesis property tests for annealers, combinations, policies and tables."""

import math
import pickle

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from schedcore import (
    SchedCos,
    SchedExp,
    SchedLin,
    SchedNo,
    SchedPoly,
    annealer,
    combine_scheds,
    combined_cos,
    flat_cos,
    lr_range,
    one_cycle,
    schedule_table,
    sgdr,
    warmup_cosine,
    wsd,
)

FAST = settings(deadline=None)  # examples and seed: the profile (conftest.py)
values = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)
positive = st.floats(min_value=1e-8, max_value=1e3)
unit = st.floats(min_value=0.0, max_value=1.0)
positions = st.lists(unit, min_size=1, max_size=30).map(np.array)


@st.composite
def annealers(draw):
    kind = draw(st.sampled_from(["lin", "cos", "exp", "poly", "no"]))
    if kind == "exp":
        sign = draw(st.sampled_from([1.0, -1.0]))
        return SchedExp(sign * draw(positive), sign * draw(positive))
    s, e = draw(values), draw(values)
    if kind == "poly":
        return SchedPoly(s, e, draw(st.floats(min_value=0.1, max_value=5)))
    return {"lin": SchedLin, "cos": SchedCos, "no": SchedNo}[kind](s, e)


def _tol(*xs):
    return 1e-12 * max(1.0, *(abs(float(x)) for x in xs))


@FAST
@given(annealers())
def test_endpoints(f):
    """f(0) == start and f(1) == end exactly (SchedExp: up to rounding; SchedNo stays at start)."""
    assert f(0.0) == f.start
    end = f.start if isinstance(f, SchedNo) else f.end
    if isinstance(f, SchedExp):
        assert math.isclose(f(1.0), end, rel_tol=1e-12)
    else:
        assert f(1.0) == end


@FAST
@given(annealers(), positions)
def test_monotone_and_bounded(f, p):
    """Every built-in annealer is monotone in pos and stays between start and end."""
    p = np.sort(p)
    v = f(p)
    end = f.start if isinstance(f, SchedNo) else f.end
    lo, hi = min(f.start, end), max(f.start, end)
    tol = _tol(lo, hi)
    assert np.all(v >= lo - tol) and np.all(v <= hi + tol)
    d = np.diff(v) * np.sign(end - f.start)
    assert np.all(d >= -tol)


@FAST
@given(annealers(), st.lists(unit, min_size=1, max_size=12))
def test_vector_equals_scalar_and_shape(f, p):
    """Evaluating an array equals evaluating each float; output shape equals input shape."""
    arr = np.array(p)
    vec = f(arr)
    assert vec.shape == arr.shape
    assert [f(x) for x in p] == vec.tolist()
    grid = arr.reshape(-1, 1) if len(p) % 2 else arr.reshape(2, -1) if len(p) > 1 else arr
    assert f(grid).shape == grid.shape
    np.testing.assert_array_equal(f(grid).ravel(), vec)


def formula(f, p):
    """The design.md formula of a built-in annealer, written out with numpy."""
    s, e = f.start, f.end
    return {
        SchedNo: lambda: np.full_like(p, s),
        SchedLin: lambda: s + p * (e - s),
        SchedCos: lambda: s + (1 + np.cos(np.pi * (1 - p))) * (e - s) / 2,
        SchedExp: lambda: s * (e / s) ** p,
        SchedPoly: lambda: s + (e - s) * p ** getattr(f, "power", 1.0),
    }[type(f)]()


@FAST
@given(annealers(), positions)
def test_pickle_round_trip(f, p):
    """An unpickled annealer equals the original and still follows its formula."""
    g = pickle.loads(pickle.dumps(f))
    assert type(g) is type(f) and g == f and repr(g) == repr(f)
    scale = max(1.0, abs(f.start), abs(f.end))
    np.testing.assert_allclose(g(p), formula(f, p), rtol=1e-9, atol=1e-12 * scale)


@FAST
@given(st.lists(st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=1.0)), min_size=1, max_size=6),
       positions)
def test_combine_continuity_and_pieces(raw, p):
    """Adjacent pieces that meet give a continuous combination; each piece is used on its span.

    Piece i runs knots[i] -> knots[i+1]; zero-width pieces are skipped, so the value jumps
    over them (that is the point of a zero width), hence the continuity check only at
    boundaries between two non-empty pieces."""
    assume(sum(raw) > 1e-3)
    pcts = np.array(raw) / sum(raw)
    knots = np.linspace(1.0, 2.0, len(pcts) + 1)  # piece i goes knots[i] -> knots[i+1]
    f = combine_scheds(pcts, [SchedLin(knots[i], knots[i + 1]) for i in range(len(pcts))])
    bounds = np.cumsum(np.concatenate([[0], pcts]))
    for i, b in enumerate(bounds[1:-1], start=1):
        if 1e-9 < b < 1 - 1e-9 and pcts[i] > 0 and pcts[i - 1] > 0:
            left, right = f(max(b - 1e-9, 0.0)), f(b)
            assert abs(left - right) < 1e-6
    live = np.flatnonzero(pcts > 0)
    assert f(0.0) == knots[live[0]]
    assert math.isclose(f(1.0), knots[live[-1] + 1])
    v = f(np.sort(p))
    assert np.all(np.diff(v) >= -1e-12)  # the joined lines are increasing


@FAST
@given(st.floats(min_value=0.0, max_value=1.0), values, values, values, positions)
def test_combined_cos_sorted_equals_unsorted(pct, a, b, c, p):
    """The table fast path (sorted positions) agrees with the general path."""
    f = combined_cos(pct, a, b, c)
    s = np.sort(p)
    np.testing.assert_array_equal(f._eval(s, is_sorted=True), f(s))
    np.testing.assert_array_equal(f(p), [f(x) for x in p])


@FAST
@given(st.integers(min_value=1, max_value=500), positive, st.floats(min_value=0.01, max_value=0.99))
def test_table_row_k_is_f_of_k_over_n(n, lr, pct):
    scheds = one_cycle(lr, pct_start=pct)
    t = schedule_table(scheds, n)
    for name, f in scheds.items():
        assert t[name].shape == (n,)
        k = np.arange(n)
        np.testing.assert_array_equal(t[name], f(k / n))
    np.testing.assert_array_equal(t.pos, np.arange(n) / n)


@FAST
@given(positive, st.floats(min_value=1.1, max_value=100), st.floats(min_value=1.1, max_value=1e6),
       st.floats(min_value=0.05, max_value=0.95))
def test_one_cycle_documented_values(lr_max, div, div_final, pct):
    f = one_cycle(lr_max, div=div, div_final=div_final, pct_start=pct)["lr"]
    assert math.isclose(f(0.0), lr_max / div, rel_tol=1e-12)
    assert math.isclose(f(pct), lr_max, rel_tol=1e-12)
    assert math.isclose(f(1.0), lr_max / div_final, rel_tol=1e-9)
    assert np.max(f(np.linspace(0, 1, 1001))) <= lr_max * (1 + 1e-12)


@FAST
@given(st.integers(min_value=1, max_value=4), st.integers(min_value=1, max_value=3),
       st.sampled_from([1, 2, 1.5, 3]), positive)
def test_sgdr_cycles(n_cycles, cycle_len, mult, lr):
    scheds, n_epoch = sgdr(n_cycles, cycle_len, lr, cycle_mult=mult)
    lengths = [cycle_len * mult**i for i in range(n_cycles)]
    assert math.isclose(n_epoch, sum(lengths))
    starts = np.cumsum([0] + lengths[:-1]) / sum(lengths)
    np.testing.assert_allclose(scheds["lr"](starts), lr, rtol=1e-12)
    assert math.isclose(scheds["lr"](1.0), 0.0, abs_tol=1e-12 * lr)


pct_or_zero = st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=0.5))


@FAST
@given(positive, pct_or_zero, pct_or_zero,
       st.sampled_from(["cos", "linear", "sqrt"]), positions)
def test_wsd_and_warmup_cosine_bounds(lr, w, d, decay, p):
    ends = {"wsd": lr / 100 if d > 0 else lr, "warmup_cosine": lr / 100 if w < 1 else lr}
    for kind, scheds in (("wsd", wsd(lr, w, d, min_lr=lr / 100, decay=decay)),
                         ("warmup_cosine", warmup_cosine(lr, w, min_lr=lr / 100))):
        v = scheds["lr"](p)
        assert np.all(v >= -1e-12) and np.all(v <= lr * (1 + 1e-12))
        assert math.isclose(scheds["lr"](1.0), ends[kind], rel_tol=1e-9)


@FAST
@given(st.lists(positive, min_size=1, max_size=4), positions)
def test_per_group_shape_and_columns(lrs, p):
    """Per-group values give shape pos.shape + (G,), and column g equals the scalar schedule."""
    lrs = np.array(lrs)
    for make in (lambda x: one_cycle(x)["lr"], lambda x: flat_cos(x)["lr"], lambda x: lr_range(x, x * 10)["lr"]):
        v = make(lrs)(p)
        assert v.shape == p.shape + (len(lrs),)
        for g, x in enumerate(lrs):
            np.testing.assert_array_equal(v[:, g], make(float(x))(p))


@FAST
@given(st.lists(positive, min_size=1, max_size=4), st.lists(positive, min_size=1, max_size=4), positions)
def test_per_group_endpoints_exact(starts, ends, p):
    """Per-group annealers start exactly at start (column by column) and match scalar columns."""
    n = min(len(starts), len(ends))
    s, e = np.array(starts[:n]), np.array(ends[:n])
    for cls in (SchedLin, SchedCos, SchedExp):
        f = cls(s, e)
        np.testing.assert_array_equal(f(0.0), s)
        if cls is SchedExp:
            np.testing.assert_allclose(f(1.0), e, rtol=1e-12)
        else:
            np.testing.assert_array_equal(f(1.0), e)
        for g in range(n):
            np.testing.assert_array_equal(f(p)[:, g], cls(s[g], e[g])(p))


@annealer
def sched_square(start, end, pos):
    """A user annealer defined at module level, as fastai users write them."""
    return start + (end - start) * pos**2


@FAST
@given(positive, st.floats(min_value=0.05, max_value=0.95), positions)
def test_policies_and_custom_annealers_pickle(lr, pct, p):
    """Combined schedules, every policy and @annealer schedules survive a pickle round trip."""
    scheds = [*one_cycle(lr, pct_start=pct).values(), flat_cos(lr)["lr"], sgdr(3, 1, lr)[0]["lr"],
              warmup_cosine(lr, pct)["lr"], wsd(lr, pct / 2, pct / 2)["lr"], lr_range()["lr"],
              sched_square(lr, 0.0), combine_scheds([pct, 1 - pct], [sched_square(0, lr), SchedNo(lr, lr)])]
    for f in scheds:
        g = pickle.loads(pickle.dumps(f))
        np.testing.assert_array_equal(g(p), f(p))
        assert repr(g) == repr(f)
    # ... and the unpickled ones still hold their documented values
    one, sq = pickle.loads(pickle.dumps(scheds[0])), pickle.loads(pickle.dumps(scheds[-2]))
    assert math.isclose(one(0.0), lr / 25, rel_tol=1e-12) and math.isclose(one(pct), lr, rel_tol=1e-12)
    np.testing.assert_allclose(sq(p), lr * (1 - p**2), rtol=1e-12, atol=1e-15 * lr)
    restarts = pickle.loads(pickle.dumps(scheds[3]))  # sgdr(3, 1, lr): cycles start at 0, 1/7, 3/7
    np.testing.assert_allclose(restarts([0.0, 1 / 7, 3 / 7]), lr, rtol=1e-12)
