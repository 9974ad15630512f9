"""Numbers: one family of guards (schedcore.guards), right exception, right parameter (issue 11).

Regression tests for the cases found by the adversarial run, then a hypothesis test that feeds
every public schedcore entry point arbitrary values, one parameter at a time, and asserts:
a finite, correct-shaped result, or a ``ValueError``/``TypeError`` naming that parameter.
"""

import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import schedcore
from schedcore import (
    LossCurve,
    SchedCos,
    SchedExp,
    SchedLin,
    SchedNo,
    SchedPoly,
    ScheduleTable,
    SuggestionWarning,
    combine_scheds,
    combined_cos,
    diagnose,
    flat_cos,
    get_policy,
    group_values,
    lr_range,
    minimum,
    one_cycle,
    save_curve,
    schedule_table,
    sgdr,
    slide,
    smooth_losses,
    steep,
    suggest_lrs,
    trim_curve,
    valley,
    warmup_cosine,
    wsd,
)
from schedcore.guards import check_float, check_int, check_values

# ---------------------------------------------------------------------------- the guards


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 10.0, np.float64(3.0), "10", None, [1]])
def test_check_int_refuses_non_integers(value):
    with pytest.raises(TypeError, match=r"^n must be an integer; got "):
        check_int(value, "n")


def test_check_int_accepts_integers():
    assert [check_int(v, "n", min=1) for v in (1, np.int64(7), np.uint8(3), np.array(4))] == [1, 7, 3, 4]
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1 and <= 5; got 6$"):
        check_int(6, "n", min=1, max=5)


@pytest.mark.parametrize("value, exc", [(True, TypeError), ("1", TypeError), (None, TypeError), (math.nan, ValueError),
                                        (math.inf, ValueError), (10**400, ValueError), (-1.0, ValueError)],
                         ids=["bool", "str", "None", "nan", "inf", "10**400", "negative"])  # fmt: skip
def test_check_float(value, exc):
    with pytest.raises(exc, match=r"^x must be a "):
        check_float(value, "x", min=0.0)
    assert check_float(np.float32(0.5), "x") == 0.5 and check_float(3, "x") == 3.0


def test_check_values():
    np.testing.assert_array_equal(check_values((1, 2), "v"), [1.0, 2.0])
    with pytest.raises(TypeError, match=r"v must hold numbers; got \[True, False\]"):
        check_values([True, False], "v")
    with pytest.raises(TypeError, match=r"v must hold numbers; got \['a'\]"):
        check_values(["a"], "v")
    with pytest.raises(ValueError, match=r"v must hold finite numbers >= 0; got -1.0 at index 1 of \[1.0, -1.0\]"):
        check_values([1, -1], "v", min=0.0)
    with pytest.raises(ValueError, match="v must be a number or a regular"):
        check_values([1, [2, 3]], "v")


# ------------------------------------------------------------- silent NaN/inf, now errors or right


def test_group_values_nan_is_an_error():
    with pytest.raises(ValueError, match="value must be a finite number; got nan"):
        group_values(float("nan"), 3)
    with pytest.raises(ValueError, match=r"value must hold finite numbers; got inf at index 1"):
        group_values([1.0, float("inf")], 2)


def test_extreme_but_valid_values_compute_without_overflow():
    f = SchedCos(-1e308, 1e308)
    assert f(0.0) == -1e308 and f(1.0) == 1e308
    v = f(np.linspace(0, 1, 101))
    assert np.all(np.isfinite(v)) and np.all(np.diff(v) >= 0)
    assert SchedLin(1.7e308, -1.7e308)(0.5) == pytest.approx(0.0, abs=1e293)
    np.testing.assert_allclose(SchedLin([1.7e308, 1.0], [-1.7e308, 3.0])(0.5), [0.0, 2.0], atol=1e293)
    assert SchedPoly(-1e308, 1e308, 2)(0.5) == pytest.approx(-0.5e308)
    np.testing.assert_allclose(group_values(slice(1e-308, 1e308), 3), [1e-308, 1.0, 1e308])
    lr = warmup_cosine(1e308, 0.1)["lr"](np.linspace(0, 1, 11))
    assert np.all(np.isfinite(lr)) and lr[1] == 1e308


@pytest.mark.parametrize("call, match", [
    (lambda: warmup_cosine(1e308, 0.1, min_lr=-1e308), "min_lr must be a finite number >= 0; got -1e[+]308"),
    (lambda: one_cycle(1e-2, div=5e-324), r"lr_max / div overflows"),
    (lambda: flat_cos(1e300, div_final=1e-10), r"lr / div_final overflows"),
    (lambda: sgdr(1100, 1, 0.1), "n_cycles=1100 cycles of cycle_len=1.0 growing by cycle_mult=2.0 add up"),
    (lambda: sgdr(3, 1, 1e300, cycle_mult=1, cycle_decay=1e300), r"lr_max \* cycle_decay\*\*2 overflows"),
    (lambda: one_cycle(-1e-3), "lr_max must be a finite number >= 0; got -0.001"),
    (lambda: flat_cos([1e-3, -1e-3]), "lr must hold finite numbers >= 0; got -0.001 at index 1"),
    (lambda: wsd(1e-3, 0.1, 0.1, warmup_start=-1.0), "warmup_start must be a finite number >= 0"),
    (lambda: lr_range(-1e-7, 10, mode="linear"), "start_lr must be a finite number >= 0"),
])  # fmt: skip
def test_bad_values_are_value_errors_naming_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda: get_policy(None), "name must be a policy name"),
    (lambda: schedule_table(one_cycle(1e-3), 10.0), r"n_steps must be an integer; got 10.0 \(float\)"),
    (lambda: schedule_table(one_cycle(1e-3), 10, start=True), r"start must be an integer; got True"),
    (lambda: sgdr(n_cycles=True, cycle_len=1, lr_max=1e-3), r"n_cycles must be an integer; got True"),
    (lambda: sgdr(n_cycles=2.0, cycle_len=1, lr_max=1e-3), r"n_cycles must be an integer; got 2.0"),
    (lambda: group_values(0.1, 2.0), r"n_groups must be an integer; got 2.0"),
    (lambda: one_cycle(slice(1e-3), n_groups=True), r"n_groups must be an integer; got True"),
    (lambda: one_cycle("1e-3"), r"lr_max must be a number; got '1e-3'"),
    (lambda: one_cycle(True), r"lr_max must be a number; got True"),
    (lambda: one_cycle(1e-3, div="25"), r"div must be a number; got '25'"),
    (lambda: one_cycle(1e-3, moms=0.9), r"moms must be three values"),
    (lambda: one_cycle(None), "lr_max is required"),
    (lambda: wsd(1e-3, 0.1, 0.1, decay=["cos"]), "decay must be one of"),
    (lambda: combine_scheds(["a", "b"], [SchedNo(1, 1)] * 2), r"pcts must hold numbers; got \['a', 'b'\]"),
    (lambda: combine_scheds([1.0], 3), "scheds must be a sequence of schedules; got 3"),
    (lambda: combined_cos("0.5", 1, 2, 0), "pct must be a number; got '0.5'"),
    (lambda: SchedLin(0, 1)("a"), "pos must be a number or an array of numbers"),
    (lambda: SchedLin(0, 1)(True), "pos must be a number or an array of numbers"),
    (lambda: SchedLin("0", 1), "start must be a number; got '0'"),
    (lambda: SchedPoly(0, 1, None), "power must be a number; got None"),
    (lambda: suggest_lrs(["a", "b"], [1.0, 2.0]), r"lrs must hold numbers"),
    (lambda: smooth_losses([1.0, 2.0], beta="0.9"), r"beta must be a number"),
    (lambda: schedule_table(one_cycle(1e-3), 10).row(2.0), r"k must be an integer; got 2.0"),
])  # fmt: skip
def test_wrong_types_are_type_errors_naming_the_parameter(call, match):
    with pytest.raises(TypeError, match=match):
        call()


@pytest.mark.parametrize("call, name", [
    (lambda: warmup_cosine(1e-3, 0.1, min_lr=float("nan")), "min_lr"),
    (lambda: wsd(1e-3, 0.1, 0.1, min_lr=float("inf")), "min_lr"),
    (lambda: lr_range(float("nan"), 10), "start_lr"),
    (lambda: lr_range(1e-7, float("inf")), "end_lr"),
    (lambda: one_cycle(1e-3, moms=(float("nan"), 0.85, 0.95)), "moms[0]"),
    (lambda: combined_cos(0.3, 1.0, float("nan"), 0.0), "middle"),
    (lambda: one_cycle(slice(1e-3, float("nan")), n_groups=2), "lr_max"),
])  # fmt: skip
def test_errors_blame_the_right_parameter(call, name):
    """Before: "start must be finite" when min_lr (or moms, middle, end_lr...) was bad."""
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value).startswith(name) or f"{name}:" in str(e.value), str(e.value)


def test_suggest_lrs_broadcasts_one_losses_curve_over_a_batch_of_lrs():
    lrs = np.tile(np.geomspace(1e-6, 1, 100), (150, 1))
    losses = np.r_[np.linspace(3, 1, 70), np.linspace(1, 4, 30)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SuggestionWarning)
        r = suggest_lrs(lrs, losses)
        assert r.valley.shape == (150,)
        np.testing.assert_array_equal(r.valley, suggest_lrs(lrs[0], losses).valley)
        x, y = trim_curve(lrs, losses)
        assert x.shape == y.shape == (150, 85)
    with pytest.raises(ValueError, match="hold different numbers of curves"):
        suggest_lrs(lrs, np.tile(losses, (3, 1)))


def test_table_too_big_for_memory_refused_up_front():
    with pytest.raises(ValueError, match=r"a table of 1000000000000 steps \(n_steps=1000000000000, .* would need 21.8 TiB of memory; .* available"):
        schedule_table(one_cycle(1e-3), 10**12)


# --------------------------------------------------------------------- every entry point, fuzzed

WILD = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20),
    st.sampled_from([0, -1, 1, 3, 10**400, -(10**400), 1e308, -1e308, 5e-324, 1.5, True, False, None, "", "1e-3",
                     b"1", slice(1e-3), slice(1e-4, 1e-2), slice(None), slice(1, 2, 3), [], [[1.0]], [1.0, [2.0]],
                     {"a": 1}, object(), np.float32(0.5), np.int64(2), np.array(0.5), np.array([[1.0, 2.0]])]),  # fmt: skip
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5),
    st.lists(st.floats(-10, 10, allow_nan=False), min_size=4, max_size=4).map(np.array),
    st.lists(st.sampled_from([True, "a", None, 1.0]), min_size=1, max_size=3),
)

_TMP = Path(tempfile.mkdtemp(prefix="schedcore-fuzz-"))
CURVE = (list(np.geomspace(1e-5, 1.0, 8)), [3.0, 2.9, 2.5, 2.0, 1.5, 1.2, 1.8, 3.5])
POS = np.array([0.0, 0.1, 0.35, 0.5, 0.9, 1.0])


def _finite(result, caught=None) -> None:
    """A schedule, dict of schedules, table or array that holds only finite numbers."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], dict):  # sgdr
        result = result[0]
    if isinstance(result, schedcore.Schedule):
        result = {"f": result}
    if isinstance(result, dict):
        for f in result.values():
            v = f(POS)
            assert np.all(np.isfinite(v)) and v.shape[0] == len(POS), (f, v)
        return
    if isinstance(result, ScheduleTable):
        result = dict(result)
        assert all(np.all(np.isfinite(v)) for v in result.values()), result
        return
    if isinstance(result, np.ndarray):
        assert np.all(np.isfinite(result)), result


def _suggested(result, caught) -> None:
    """Suggestions are finite unless a SuggestionWarning said why not (the documented nan)."""
    values = result[0] if isinstance(result, tuple) and not hasattr(result, "_fields") else result
    flat = [np.ravel(np.asarray(v, dtype=float)) for v in (values if hasattr(values, "_fields") else [values])]
    if not all(np.all(np.isfinite(v)) for v in flat):
        assert any(issubclass(w.category, SuggestionWarning) for w in caught), (result, caught)


def _any(result, caught=None) -> None:
    pass


def _closed(plot):
    """``plot`` with its figure closed afterwards (the fuzz test draws hundreds)."""

    def run(**kwargs):
        import matplotlib.pyplot as plt

        fig = plot(**kwargs)
        plt.close(fig)
        return fig

    return run


# name -> (function, valid keyword arguments, result check, {parameter: word the message uses})
ENTRY_POINTS = {
    "SchedNo": (SchedNo, dict(start=0.5, end=1.0), _finite, {}),
    "SchedLin": (SchedLin, dict(start=0.5, end=1.0), _finite, {}),
    "SchedCos": (SchedCos, dict(start=0.5, end=1.0), _finite, {}),
    "SchedExp": (SchedExp, dict(start=1e-3, end=1.0), _finite, {}),
    "SchedPoly": (SchedPoly, dict(start=0.5, end=1.0, power=2.0), _finite, {}),
    "Schedule.__call__": (lambda pos: combined_cos(0.3, 0.1, 1.0, 0.0)(pos), dict(pos=0.5), _finite, {}),
    "group_values": (group_values, dict(value=0.1, n_groups=3), _finite, {}),
    "combine_scheds": (combine_scheds, dict(pcts=[0.5, 0.5], scheds=[SchedLin(0, 1), SchedCos(1, 0)]), _finite, {}),
    "combined_cos": (combined_cos, dict(pct=0.3, start=0.1, middle=1.0, end=0.0), _finite, {}),
    "one_cycle": (one_cycle, dict(lr_max=1e-2, div=25.0, div_final=1e5, pct_start=0.25, moms=(0.95, 0.85, 0.95),
                                  n_groups=None), _finite, {}),  # fmt: skip
    "flat_cos": (flat_cos, dict(lr=1e-2, div_final=1e5, pct_start=0.75, n_groups=None), _finite, {}),
    "sgdr": (sgdr, dict(n_cycles=3, cycle_len=1, lr_max=1e-2, cycle_mult=2, min_lr=0.0, cycle_decay=1.0,
                        n_groups=None), _finite, {}),  # fmt: skip
    "lr_range": (lr_range, dict(start_lr=1e-7, end_lr=10.0, mode="exp"), _finite, {}),
    "warmup_cosine": (warmup_cosine, dict(lr_max=1e-2, warmup_pct=0.1, min_lr=0.0, warmup_start=0.0, n_groups=None),
                      _finite, {}),  # fmt: skip
    "wsd": (wsd, dict(lr_max=1e-2, warmup_pct=0.1, decay_pct=0.2, min_lr=0.0, decay="cos", warmup_start=0.0,
                      n_groups=None), _finite, {}),  # fmt: skip
    "get_policy": (get_policy, dict(name="one_cycle"), _any, {"name": "policy"}),
    "schedule_table": (schedule_table, dict(scheds=one_cycle(1e-2), n_steps=20, start=0, stop=None), _finite,
                       {"scheds": "schedule"}),  # fmt: skip
    "ScheduleTable.row": (lambda k: schedule_table(SchedLin(0, 1), 4).row(k), dict(k=2), _any, {}),
    "valley": (valley, dict(lrs=CURVE[0], losses=CURVE[1], num_it=None), _suggested, {}),
    "slide": (slide, dict(lrs=CURVE[0], losses=CURVE[1], num_it=None, lr_diff=2, thresh=0.9, adjust_value=1.0),
              _suggested, {}),  # fmt: skip
    "minimum": (minimum, dict(lrs=CURVE[0], losses=CURVE[1], num_it=None), _suggested, {}),
    "steep": (steep, dict(lrs=CURVE[0], losses=CURVE[1], num_it=None), _suggested, {}),
    "suggest_lrs": (suggest_lrs, dict(lrs=CURVE[0], losses=CURVE[1], num_it=None, funcs=(valley, minimum)),
                    _suggested, {}),  # fmt: skip
    "trim_curve": (trim_curve, dict(lrs=CURVE[0], losses=CURVE[1], num_it=None), _any, {}),
    "smooth_losses": (smooth_losses, dict(raw=CURVE[1], beta=0.98), _any, {}),
    "diagnose": (diagnose, dict(lrs=CURVE[0], losses=CURVE[1], noise_ratio=0.1), _any, {}),
    "LossCurve.of": (LossCurve.of, dict(lrs=CURVE[0], losses=CURVE[1], raw_losses=None, num_it=None, settings=None),
                     _any, {"lrs": "lr", "losses": "loss", "raw_losses": "raw_loss"}),  # fmt: skip
    "save_curve": (lambda **kw: save_curve(_TMP / "c.csv", **kw), dict(lrs=CURVE[0], losses=CURVE[1], num_it=None,
                   settings=None), _any, {"lrs": "lr", "losses": "loss"}),  # fmt: skip
    "descent": (schedcore.descent, dict(lrs=CURVE[0], losses=CURVE[1], num_it=None, done=0.8, back=0.5,
                                        spread_warn=1.0), _suggested, {}),  # fmt: skip
    "diverged": (schedcore.diverged, dict(loss=2.0, best=1.0, first=3.0), _any, {}),
    "as_positions": (schedcore.as_positions, dict(pos=0.5), _any, {}),
    "as_schedule": (schedcore.as_schedule, dict(sched=SchedLin(0, 1), name="lr"), _any, {"sched": "lr"}),
    "evaluate_callable": (schedcore.evaluate_callable, dict(f=lambda p: 2 * p, pos=POS, n_groups=None), _finite, {}),
    "LossSmoother": (schedcore.LossSmoother, dict(beta=0.98), _any, {}),
    "curve_from_dict": (schedcore.curve_from_dict, dict(data={"lr": CURVE[0], "loss": CURVE[1]}, source="x.json"),
                        _any, {"data": "x.json"}),  # fmt: skip
    "save_table": (schedcore.save_table, dict(table=schedule_table(SchedLin(0, 1), 4), path=_TMP / "t.csv"), _any,
                   {}),  # fmt: skip
    "load_table": (schedcore.load_table, dict(path=_TMP / "missing.csv"), _any, {}),
    "load_curve": (schedcore.load_curve, dict(path=_TMP / "missing.csv"), _any, {}),
    "plot_lr_find": (_closed(schedcore.plot_lr_find), dict(lrs=CURVE[0], losses=CURVE[1], suggestions=None,
                     skip_end=0, title=None), _any, {}),  # fmt: skip
    "plot_schedules": (_closed(schedcore.plot_schedules), dict(scheds_or_table=one_cycle(1e-2), n_steps=20,
                       title=None), _any, {"scheds_or_table": "sched"}),  # fmt: skip
}
CASES = [(entry, param) for entry, (_, kwargs, _, _) in ENTRY_POINTS.items() for param in kwargs]
SIZES = {"n_steps", "start", "stop", "n_groups", "n_cycles", "num_it", "lr_diff", "k"}
# Exceptions an entry point documents besides ValueError/TypeError.
OTHER = {"ScheduleTable.row": (IndexError,), "load_table": (FileNotFoundError,), "load_curve": (FileNotFoundError,),
         "save_table": (OSError,)}  # fmt: skip


@pytest.mark.parametrize("entry, param", CASES, ids=[f"{e}-{p}" for e, p in CASES])
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(value=WILD)
def test_every_entry_point_fuzzed(entry, param, value):
    """Any value for one parameter: a finite result, or ValueError/TypeError naming the parameter."""
    # Sizes that are valid but slow or memory-hungry (a 10^8-step table) are left out; sizes
    # beyond memory (10^12 steps) stay in and must be refused up front.
    assume(not (param in SIZES and isinstance(value, int) and 10**4 < abs(value) < 10**13))
    func, kwargs, check, words = ENTRY_POINTS[entry]
    kwargs = {**kwargs, param: value}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = func(**kwargs)
        except (ValueError, TypeError) as e:
            word = words.get(param, param)
            assert word in str(e), f"{entry}({param}={value!r}) raised {type(e).__name__}: {e}"
            return
        except OTHER.get(entry, ()):
            return
        check(result, caught)
