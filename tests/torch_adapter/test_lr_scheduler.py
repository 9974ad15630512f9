"""TableScheduler: schedcore tables through torch's LRScheduler protocol (issue 7)."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim.lr_scheduler import LRScheduler, OneCycleLR

import schedcore
from torch_adapter.lr_scheduler import TableScheduler
from torch_adapter.optim import get_hyper

# ------------------------------------------------------------------------------------ helpers


def params(n_groups: int = 1) -> list[dict]:
    return [{"params": [torch.zeros(2, requires_grad=True)]} for _ in range(n_groups)]


def sgd(n_groups: int = 1, **kw) -> torch.optim.SGD:
    return torch.optim.SGD(params(n_groups), lr=0.1, momentum=0.9, **kw)


def run(opt, sched, n_steps: int, names=("lr",)) -> dict[str, np.ndarray]:
    """The values each of ``n_steps`` optimizer steps used, read from the optimizer itself."""
    rec = {name: [] for name in names}
    for _ in range(n_steps):
        for name in names:
            rec[name].append(get_hyper(opt, name))
        opt.step()
        sched.step()
    return {name: np.array(v) for name, v in rec.items()}


def column(table, name, n_groups=1) -> np.ndarray:
    """A table column as (steps, groups), as the optimizer sees it."""
    v = table[name]
    return np.broadcast_to(v[:, None], (len(v), n_groups)) if v.ndim == 1 else v


# ------------------------------------------------------------------- contract with torch


def test_is_an_lr_scheduler_holding_row_0_then_row_k():
    """torch's contract: after construction the optimizer holds row 0, after the k-th step row k."""
    opt = sgd()
    sched = TableScheduler(opt, schedcore.SchedLin(0.0, 1.0), total_steps=8)
    assert isinstance(sched, LRScheduler)
    assert opt.param_groups[0]["lr"] == 0.0 and sched.last_epoch == 0
    for k in range(1, 8):
        opt.step()
        sched.step()
        assert sched.last_epoch == k
        assert opt.param_groups[0]["lr"] == k / 8
        assert sched.get_last_lr() == [k / 8]


def test_normal_loop_gives_no_warning():
    opt = sgd()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched = TableScheduler.one_cycle(opt, 5, 1e-2)
        lrs = run(opt, sched, 5)["lr"]  # the 5th step() (after the last optimizer step) is part of the loop
    p = np.arange(5) / 5  # one-cycle with the defaults: cosine 1e-2/25 -> 1e-2 by 0.25, then -> 1e-7
    cos = lambda a, b, t: a + (b - a) * (1 - np.cos(np.pi * t)) / 2  # noqa: E731
    expected = np.where(p < 0.25, cos(4e-4, 1e-2, p / 0.25), cos(1e-2, 1e-7, (p - 0.25) / 0.75))
    np.testing.assert_allclose(lrs.reshape(5), expected, rtol=1e-6)


def test_torch_call_order_warning_is_kept():
    """Stepping the scheduler before the optimizer warns exactly as torch's schedulers do."""
    opt = sgd()
    sched = TableScheduler(opt, schedcore.SchedLin(0.0, 1.0), 4)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()


def test_get_last_lr_is_a_fresh_list_per_group():
    opt = sgd(n_groups=3)
    sched = TableScheduler.one_cycle(opt, 10, slice(1e-3, 1e-1))
    first = sched.get_last_lr()
    assert first == [g["lr"] for g in opt.param_groups] and len(first) == 3
    held = list(first)
    opt.step()
    sched.step()
    assert first == held  # a list returned earlier is never updated behind the caller's back
    assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups] != held
    assert all(type(v) is float for v in sched.get_last_lr())


def test_tensor_lr_filled_in_place():
    """Tensor learning rates (as torch allows) are filled in place; get_last_lr returns copies."""
    opt = torch.optim.Adam(params(), lr=torch.tensor(0.01))
    lr_tensor = opt.param_groups[0]["lr"]
    sched = TableScheduler(opt, schedcore.SchedLin(0.0, 1.0), 4)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] is lr_tensor and lr_tensor.item() == 0.25
    last = sched.get_last_lr()[0]
    assert isinstance(last, torch.Tensor) and last.item() == 0.25 and last is not lr_tensor


def test_step_with_epoch_jumps_in_closed_form():
    opt = sgd()
    sched = TableScheduler(opt, schedcore.SchedLin(0.0, 1.0), 10)
    opt.step()
    with pytest.warns(UserWarning, match="epoch parameter"):
        sched.step(7)
    assert opt.param_groups[0]["lr"] == 0.7 and sched.last_epoch == 7
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.8


def test_last_epoch_argument_as_torch():
    """torch's own resume style: last_epoch=k (with initial_lr in the groups) gives row k+1."""
    opt = sgd()
    TableScheduler(opt, schedcore.SchedLin(0.0, 1.0), 10)  # sets initial_lr, as torch does
    sched = TableScheduler(opt, schedcore.SchedLin(0.0, 1.0), 10, last_epoch=4)
    assert sched.last_epoch == 5 and opt.param_groups[0]["lr"] == 0.5
    with pytest.raises(KeyError, match="initial_lr"):
        TableScheduler(sgd(), schedcore.SchedLin(0.0, 1.0), 10, last_epoch=4)


# ------------------------------------------------------------ equality with schedule_table

POLICIES = {
    "one_cycle": (
        lambda n: schedcore.one_cycle(1e-2, n_groups=n),
        lambda o, N: TableScheduler.one_cycle(o, N, 1e-2),
    ),
    "flat_cos": (
        lambda n: schedcore.flat_cos(1e-2, n_groups=n),
        lambda o, N: TableScheduler.flat_cos(o, N, 1e-2),
    ),
    "sgdr": (
        lambda n: schedcore.sgdr(3, 1, 1e-2, n_groups=n)[0],
        lambda o, N: TableScheduler.sgdr(o, N, 3, 1, 1e-2),
    ),
    "warmup_cosine": (
        lambda n: schedcore.warmup_cosine(1e-2, 0.1, n_groups=n),
        lambda o, N: TableScheduler.warmup_cosine(o, N, 1e-2, 0.1),
    ),
    "wsd": (
        lambda n: schedcore.wsd(1e-2, 0.1, 0.2, n_groups=n),
        lambda o, N: TableScheduler.wsd(o, N, 1e-2, 0.1, 0.2),
    ),
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("total_steps", [1, 2, 7, 100, 333])
def test_each_policy_equals_schedule_table(policy, total_steps):
    """The values each optimizer step uses are exactly schedule_table's rows, for every policy,
    whether built from the policy dict or from the convenience constructor."""
    make_scheds, make_sched = POLICIES[policy]
    scheds = make_scheds(1)
    table = schedcore.schedule_table(scheds, total_steps)
    for build in (lambda o: TableScheduler(o, scheds, total_steps), lambda o: make_sched(o, total_steps)):
        opt = sgd()
        got = run(opt, build(opt), total_steps, names=tuple(table))
        for name in table:
            np.testing.assert_array_equal(got[name], column(table, name))


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_each_policy_per_group_slice(policy):
    """A slice learning rate is expanded over the optimizer's groups as group_values does."""
    n_groups, total_steps = 3, 40  # every policy's peak falls on a step
    _, make_sched = POLICIES[policy]
    opt = sgd(n_groups)
    sched = {
        "one_cycle": lambda: TableScheduler.one_cycle(opt, total_steps, slice(1e-4, 1e-2)),
        "flat_cos": lambda: TableScheduler.flat_cos(opt, total_steps, slice(1e-4, 1e-2)),
        "sgdr": lambda: TableScheduler.sgdr(opt, total_steps, 3, 1, slice(1e-4, 1e-2)),
        "warmup_cosine": lambda: TableScheduler.warmup_cosine(opt, total_steps, slice(1e-4, 1e-2), 0.1),
        "wsd": lambda: TableScheduler.wsd(opt, total_steps, slice(1e-4, 1e-2), 0.1, 0.2),
    }[policy]()
    got = run(opt, sched, total_steps)["lr"]
    expected = column(sched.table, "lr", n_groups)
    np.testing.assert_array_equal(got, expected)
    peak = expected.max(axis=0)
    np.testing.assert_allclose(peak, schedcore.group_values(slice(1e-4, 1e-2), 3), rtol=1e-12)


def test_per_group_arrays_and_broadcast():
    """2-D columns go group by group; a 1-D column (here mom) goes to every group."""
    scheds = {"lr": schedcore.SchedLin([1e-3, 1e-2], [0.0, 0.0]), "mom": schedcore.SchedLin(0.9, 0.8)}
    opt = sgd(2)
    got = run(opt, TableScheduler(opt, scheds, 10), 10, names=("lr", "mom"))
    pos = np.arange(10) / 10
    np.testing.assert_allclose(got["lr"], np.outer(1 - pos, [1e-3, 1e-2]), rtol=1e-12, atol=0)
    np.testing.assert_allclose(got["mom"], np.repeat((0.9 - 0.1 * pos)[:, None], 2, 1), rtol=1e-12)


def test_row_k_is_f_of_k_over_n():
    """Closed form: the value used at step k is f(k / total_steps), however far we have gone."""
    scheds = schedcore.one_cycle(3e-3)
    n = 97
    opt = sgd()
    got = run(opt, TableScheduler(opt, scheds, n), n, names=("lr", "mom"))
    for k in (0, 1, 24, 25, 50, 96):
        assert got["lr"][k, 0] == scheds["lr"](k / n)
        assert got["mom"][k, 0] == scheds["mom"](k / n)


@settings(deadline=None)
@given(
    total_steps=st.integers(1, 300),
    lr_max=st.floats(1e-6, 10.0),
    pct_start=st.floats(0.0, 1.0),
    div=st.floats(1.0, 100.0),
)
def test_one_cycle_property_equals_table(total_steps, lr_max, pct_start, div):
    """For any settings, the optimizer sees exactly the schedule_table rows, lr and mom."""
    scheds = schedcore.one_cycle(lr_max, div=div, pct_start=pct_start)
    table = schedcore.schedule_table(scheds, total_steps)
    opt = sgd()
    got = run(opt, TableScheduler(opt, scheds, total_steps), total_steps, names=("lr", "mom"))
    np.testing.assert_array_equal(got["lr"][:, 0], table["lr"])
    np.testing.assert_array_equal(got["mom"][:, 0], table["mom"])


@pytest.mark.parametrize("ext", ["npz", "csv"])
def test_table_file_source(tmp_path, ext):
    """A saved table file schedules exactly its rows; total_steps defaults to its length."""
    scheds = schedcore.one_cycle(slice(1e-3, 1e-2), n_groups=2)
    table = schedcore.schedule_table(scheds, 40)
    path = table.save(tmp_path / f"t.{ext}")
    for total_steps in (None, 40):
        opt = sgd(2)
        got = run(opt, TableScheduler(opt, path, total_steps), 40, names=("lr", "mom"))
        np.testing.assert_array_equal(got["lr"], table["lr"])
        np.testing.assert_array_equal(got["mom"], column(table, "mom", 2))
    opt = sgd(2)
    got = run(opt, TableScheduler(opt, str(path)), 40)  # a str path works as well
    np.testing.assert_array_equal(got["lr"], table["lr"])


def test_schedule_table_source():
    table = schedcore.schedule_table(schedcore.flat_cos(1e-2), 12)
    opt = sgd()
    got = run(opt, TableScheduler(opt, table), 12)
    np.testing.assert_array_equal(got["lr"][:, 0], table["lr"])


# ---------------------------------------------------------------------- torch's OneCycleLR
#
# torch's OneCycleLR (cos, two phases) with total_steps N, pct_start p, div_factor d and
# final_div_factor F uses at step k
#     phase 1 (k <= pN - 1):  cos from max_lr/d to max_lr at u = k / (pN - 1)
#     phase 2:                cos from max_lr to max_lr/(d F) at u = (k - (pN - 1)) / (N - 1 - (pN - 1))
# so it places its turn at step pN - 1 and reaches its final value at the last step k = N - 1:
# it is f(k / (N - 1)) for k = 0 .. N - 1, f(1) included. Ours is f(k / N) for k = 0 .. N - 1
# with the turn at step pN, and f(1) never applied (fastai's convention). The cosine formulas are
# the same function (ours: s + (1 + cos(pi (1 - u))) (e - s) / 2, torch's: e + (s - e)(1 + cos(pi u)) / 2).
#
# Hence the two definitions coincide exactly (up to float rounding) in these places:
#  (a) reparametrised: torch(N, p, d, F) rows 0 .. N-2 equal ours with total_steps N - 1,
#      pct_start (pN - 1)/(N - 1), div d and div_final d*F; torch's last row is our f(1);
#  (b) same settings (ours with total_steps N, pct_start p, div_final d*F): step 0 is equal, and in
#      the annealing phase torch's row k equals our row k + 1 (torch is one step ahead), for
#      pN - 1 <= k <= N - 2. In the warm-up phase torch's row k is f1(k/(pN - 1)) against our
#      f1(k/(pN)): they differ for 0 < k < pN.
# Momentum follows the same rules with moms = (max_momentum, base_momentum, max_momentum).


def torch_one_cycle(N, p, d, F, opt_factory=sgd, max_lr=0.1):
    opt = opt_factory()
    sched = OneCycleLR(opt, max_lr=max_lr, total_steps=N, pct_start=p, div_factor=d, final_div_factor=F)
    return run(opt, sched, N, names=("lr", "mom"))


@pytest.mark.parametrize("N,p", [(10, 0.3), (100, 0.25), (1000, 0.3), (77, 0.41), (500, 0.99), (64, 0.5)])
@pytest.mark.parametrize("opt_factory", [sgd, lambda: torch.optim.AdamW(params())], ids=["SGD", "AdamW"])
def test_agrees_with_torch_one_cycle_reparametrised(N, p, opt_factory):
    """(a): torch rows 0..N-2 equal ours with N-1 steps and the turn moved to step pN-1."""
    d, F, max_lr = 25.0, 1e4, 0.1
    theirs = torch_one_cycle(N, p, d, F, opt_factory, max_lr)
    opt = opt_factory()
    ours_sched = TableScheduler.one_cycle(
        opt, N - 1, max_lr, div=d, div_final=d * F, pct_start=(p * N - 1) / (N - 1), moms=(0.95, 0.85, 0.95)
    )
    ours = run(opt, ours_sched, N - 1, names=("lr", "mom"))
    np.testing.assert_allclose(ours["lr"], theirs["lr"][:-1], rtol=1e-6, atol=0)
    np.testing.assert_allclose(ours["mom"], theirs["mom"][:-1], rtol=1e-6, atol=0)
    scheds = schedcore.one_cycle(max_lr, div=d, div_final=d * F)
    assert theirs["lr"][-1, 0] == pytest.approx(scheds["lr"](1.0), rel=1e-6)  # torch applies f(1)


@pytest.mark.parametrize("N,p", [(10, 0.3), (100, 0.25), (1000, 0.3), (77, 0.41), (64, 0.5)])
def test_agrees_with_torch_one_cycle_same_settings(N, p):
    """(b): same settings: equal at step 0; torch is one step ahead in the annealing phase."""
    d, F = 25.0, 1e4
    theirs = torch_one_cycle(N, p, d, F)
    opt = sgd()
    ours = run(
        opt, TableScheduler.one_cycle(opt, N, 0.1, div=d, div_final=d * F, pct_start=p), N, ("lr", "mom")
    )
    for name in ("lr", "mom"):
        t, o = theirs[name][:, 0], ours[name][:, 0]
        assert o[0] == pytest.approx(t[0], rel=1e-12)
        k = np.arange(math.ceil(p * N - 1), N - 1)
        np.testing.assert_allclose(o[k + 1], t[k], rtol=1e-6, atol=0)
        warm = np.arange(1, math.floor(p * N - 1))
        assert not np.allclose(o[warm], t[warm], rtol=1e-6, atol=0)  # where they truly differ


# ------------------------------------------------------------------------------- momentum


@pytest.mark.parametrize(
    "make_opt,key",
    [
        (lambda: torch.optim.SGD(params(2), lr=0.1, momentum=0.9), "momentum"),
        (lambda: torch.optim.Adam(params(2), lr=0.1), "betas"),
        (lambda: torch.optim.AdamW(params(2), lr=0.1, betas=(0.9, 0.99)), "betas"),
        (lambda: torch.optim.RMSprop(params(2), lr=0.1, momentum=0.5), "momentum"),
    ],
    ids=["SGD", "Adam", "AdamW", "RMSprop"],
)
def test_momentum_schedule(make_opt, key):
    """mom goes to SGD/RMSprop `momentum` and to Adam/AdamW `betas[0]`; betas[1] is untouched."""
    opt = make_opt()
    sqr_before = [g["betas"][1] for g in opt.param_groups] if key == "betas" else None
    sched = TableScheduler.one_cycle(opt, 20, 1e-2, moms=(0.95, 0.8, 0.9))
    expected = column(sched.table, "mom", 2)
    for k in range(20):
        got = [g[key][0] if key == "betas" else g[key] for g in opt.param_groups]
        assert got == expected[k].tolist()
        if sqr_before is not None:
            assert [g["betas"][1] for g in opt.param_groups] == sqr_before
        opt.step()
        sched.step()


def test_sqr_mom_and_wd_schedules():
    scheds = {
        "lr": schedcore.SchedCos(1e-2, 1e-4),
        "sqr_mom": schedcore.SchedLin(0.99, 0.999),
        "wd": schedcore.SchedLin(0.0, 0.1),
    }
    opt = torch.optim.AdamW(params(), lr=1e-3)
    got = run(opt, TableScheduler(opt, scheds, 16), 16, names=("lr", "sqr_mom", "wd"))
    table = schedcore.schedule_table(scheds, 16)
    for name in scheds:
        np.testing.assert_array_equal(got[name][:, 0], table[name])
    assert opt.param_groups[0]["betas"][0] == 0.9


def test_one_cycle_moms_none_leaves_momentum_alone():
    opt = torch.optim.Adagrad(params(), lr=0.1)  # has no momentum at all
    sched = TableScheduler.one_cycle(opt, 10, 1e-2, moms=None)
    assert list(sched.table) == ["lr"]


# --------------------------------------------------------------------------------- resume


def make_training(opt_name: str, total_steps: int):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    if opt_name == "SGD":
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    sched = TableScheduler.one_cycle(opt, total_steps, 5e-2)
    return model, opt, sched


def train(model, opt, sched, steps, data, lrs):
    xs, ys = data
    for k in steps:
        lrs.append((opt.param_groups[0]["lr"], get_hyper(opt, "mom")[0]))
        loss = torch.nn.functional.mse_loss(model(xs[k]), ys[k])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


@pytest.mark.parametrize("opt_name", ["SGD", "AdamW"])
@pytest.mark.parametrize("k", [0, 1, 13, 29, 30])
@pytest.mark.parametrize("scheduler_first", [True, False])
def test_exact_resume(opt_name, k, scheduler_first):
    """Train k steps, checkpoint (torch.save, weights_only load), rebuild everything, load,
    continue: lrs, moms and final weights equal the uninterrupted run's exactly."""
    n = 30
    g = torch.Generator().manual_seed(1)
    data = (torch.randn(n, 5, 4, generator=g), torch.randn(n, 5, 1, generator=g))

    model, opt, sched = make_training(opt_name, n)
    straight: list = []
    train(model, opt, sched, range(n), data, straight)
    expected_weights = [p.detach().clone() for p in model.parameters()]

    model, opt, sched = make_training(opt_name, n)
    resumed: list = []
    train(model, opt, sched, range(k), data, resumed)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    del model, opt, sched
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    model, opt, sched = make_training(opt_name, n)
    model.load_state_dict(ckpt["model"])
    if scheduler_first:
        sched.load_state_dict(ckpt["sched"])
        opt.load_state_dict(ckpt["opt"])
    else:
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
    assert sched.last_epoch == k
    train(model, opt, sched, range(k, n), data, resumed)

    assert resumed == straight
    for a, b in zip(model.parameters(), expected_weights, strict=True):
        assert torch.equal(a, b)


def test_resume_continues_with_row_k_plus_1():
    opt = sgd()
    a = TableScheduler.one_cycle(opt, 50, 1e-2)
    run(opt, a, 17)
    state = a.state_dict()
    opt2 = sgd()
    b = TableScheduler.one_cycle(opt2, 50, 1e-2)
    b.load_state_dict(state)
    assert b.get_last_lr() == a.get_last_lr() == [b.table["lr"][17]]
    opt2.step()
    b.step()
    assert opt2.param_groups[0]["lr"] == b.table["lr"][18]
    assert opt2.param_groups[0]["momentum"] == b.table["mom"][18]


# ------------------------------------------------------------------------------- overrun


def test_past_total_steps_holds_last_value_with_one_warning():
    opt = sgd()
    sched = TableScheduler(opt, schedcore.SchedLin(0.0, 1.0), 3)
    run(opt, sched, 3)  # the usual loop: 3 optimizer steps, 3 scheduler steps, no warning
    assert opt.param_groups[0]["lr"] == 2 / 3
    with pytest.warns(UserWarning, match="past total_steps=3") as record:
        for _ in range(5):
            opt.step()
            sched.step()
    assert len(record) == 1
    assert opt.param_groups[0]["lr"] == 2 / 3 and sched.get_last_lr() == [2 / 3]
    assert sched.last_epoch == 8


def test_past_total_steps_can_raise():
    opt = sgd()
    sched = TableScheduler(opt, schedcore.SchedLin(0.0, 1.0), 3, on_overrun="raise")
    run(opt, sched, 3)
    opt.step()
    with pytest.raises(ValueError, match="step 4, past total_steps=3"):
        sched.step()
    assert sched.last_epoch == 3  # nothing changed


def test_torch_one_cycle_crashes_where_we_hold():
    """The motivating difference: torch raises one step past its budget; we warn and hold."""
    opt = sgd()
    theirs = OneCycleLR(opt, max_lr=0.1, total_steps=3)
    run(opt, theirs, 3)
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        theirs.step()
    opt = sgd()
    ours = TableScheduler.one_cycle(opt, 3, 0.1)
    run(opt, ours, 3)
    with pytest.warns(UserWarning):
        ours.step()


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("total_steps", [0, -1])
def test_bad_total_steps(total_steps):
    with pytest.raises(ValueError, match=f"total_steps must be an integer >= 1; got {total_steps!r}"):
        TableScheduler(sgd(), schedcore.one_cycle(1e-2), total_steps)


@pytest.mark.parametrize("total_steps", [2.5, 10.0, True, "10"])
def test_total_steps_of_the_wrong_type(total_steps):
    """Not an integer (a float, even 10.0; a bool; a string): TypeError, as for schedule_table."""
    with pytest.raises(TypeError, match=f"total_steps must be an integer; got {total_steps!r}"):
        TableScheduler(sgd(), schedcore.one_cycle(1e-2), total_steps)
    with pytest.raises(TypeError, match=f"n_steps must be an integer; got {total_steps!r}"):
        schedcore.schedule_table(schedcore.one_cycle(1e-2), total_steps)


def test_missing_total_steps():
    with pytest.raises(ValueError, match="total_steps is required"):
        TableScheduler(sgd(), schedcore.one_cycle(1e-2))


@pytest.mark.parametrize("ext", ["npz", "csv"])
def test_table_file_length_differs_from_total_steps(tmp_path, ext):
    path = schedcore.schedule_table(schedcore.one_cycle(1e-2), 40).save(tmp_path / f"t.{ext}")
    with pytest.raises(ValueError, match=rf"t\.{ext}' has 40 steps but total_steps=50"):
        TableScheduler(sgd(), path, 50)


def test_partial_table_rejected():
    part = schedcore.schedule_table(schedcore.one_cycle(1e-2), 40, start=10)
    with pytest.raises(ValueError, match="holds steps 10..39 of 40"):
        TableScheduler(sgd(), part)


@pytest.mark.parametrize(
    "make_opt,name",
    [
        (lambda: torch.optim.SGD(params(), lr=0.1), "sqr_mom"),
        (lambda: torch.optim.Adagrad(params(), lr=0.1), "mom"),
        (lambda: torch.optim.SGD(params(), lr=0.1), "not_a_hyper"),
    ],
)
def test_schedule_for_missing_hyper(make_opt, name):
    scheds = {"lr": schedcore.SchedNo(0.1, 0.1), name: schedcore.SchedLin(0.9, 0.99)}
    with pytest.raises(ValueError, match=f"a schedule for '{name}' was given but"):
        TableScheduler(make_opt(), scheds, 10)


def test_one_cycle_on_optimizer_without_momentum():
    with pytest.raises(ValueError, match="'mom' was given but Adagrad has no such hyper-parameter"):
        TableScheduler.one_cycle(torch.optim.Adagrad(params(), lr=0.1), 10, 1e-2)


def test_group_count_mismatch():
    scheds = schedcore.one_cycle([1e-3, 1e-2])
    with pytest.raises(ValueError, match=r"'lr' has values for \(2,\) groups but the optimizer has 3"):
        TableScheduler(sgd(3), scheds, 10)
    opt = sgd(1)
    sched = TableScheduler(opt, schedcore.one_cycle(1e-2), 10)
    opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)]})
    opt.step()
    with pytest.raises(ValueError, match="has 2 parameter groups but this scheduler was built for 1"):
        sched.step()


def test_other_bad_input():
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer; got list"):
        TableScheduler([], schedcore.one_cycle(1e-2), 10)
    with pytest.raises(TypeError, match="source must be .*; got float"):
        TableScheduler(sgd(), 0.1, 10)
    with pytest.raises(ValueError, match="must include 'lr'; got \\['mom'\\]"):
        TableScheduler(sgd(), {"mom": schedcore.SchedLin(0.9, 0.8)}, 10)
    with pytest.raises(ValueError, match="on_overrun must be one of .*; got 'ignore'"):
        TableScheduler(sgd(), schedcore.one_cycle(1e-2), 10, on_overrun="ignore")
    with pytest.raises(ValueError, match="epoch must be an integer >= 0; got -2"):
        TableScheduler(sgd(), schedcore.one_cycle(1e-2), 10).step(-2)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        TableScheduler.sgdr(sgd(), None, 3, 1, 1e-2)


@pytest.mark.parametrize(
    "other",
    [
        lambda o: TableScheduler.one_cycle(o, 30, 2e-2),  # other values
        lambda o: TableScheduler.one_cycle(o, 31, 1e-2),  # other length
        lambda o: TableScheduler.one_cycle(o, 30, 1e-2, moms=None),  # other hyper-parameters
        lambda o: TableScheduler.one_cycle(o, 30, 1e-2, pct_start=0.3),  # other shape
    ],
)
def test_mismatched_reload(other):
    opt = sgd()
    saved = TableScheduler.one_cycle(opt, 30, 1e-2)
    run(opt, saved, 5)
    with pytest.raises(ValueError, match="scheduler state does not match this TableScheduler"):
        other(sgd()).load_state_dict(saved.state_dict())


def test_reload_from_a_torch_scheduler_state():
    opt = sgd()
    with pytest.raises(ValueError, match="not a TableScheduler state"):
        TableScheduler.one_cycle(opt, 30, 1e-2).load_state_dict(OneCycleLR(opt, 0.1, 30).state_dict())


# ------------------------------------------------------------------------------- examples


def test_plain_loop_example_runs(capsys):
    """examples/plain_loop.py asserts that its resumed run equals the uninterrupted one."""
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "plain_loop.py"
    runpy.run_path(str(path), run_name="__main__")
    assert "resumed run == uninterrupted run" in capsys.readouterr().out


# -------------------------------------------------------------- agreement with the Learner

LEARNER_FITS = {
    "one_cycle": (
        lambda learn: learn.fit_one_cycle(2, lr_max=1e-2),
        lambda opt, n: TableScheduler.one_cycle(opt, n, 1e-2),
    ),
    "one_cycle_slice": (
        lambda learn: learn.fit_one_cycle(2, lr_max=slice(1e-4, 1e-2), pct_start=0.3, div=5.0),
        lambda opt, n: TableScheduler.one_cycle(opt, n, slice(1e-4, 1e-2), pct_start=0.3, div=5.0),
    ),
    "flat_cos": (
        lambda learn: learn.fit_flat_cos(2, lr=1e-2),
        lambda opt, n: TableScheduler.flat_cos(opt, n, 1e-2),
    ),
    "sgdr": (
        lambda learn: learn.fit_sgdr(3, 1, lr_max=1e-2),
        lambda opt, n: TableScheduler.sgdr(opt, n, 3, 1, 1e-2),
    ),
    "warmup_cosine": (
        lambda learn: learn.fit_warmup_cosine(2, lr_max=1e-2, warmup_pct=0.2),
        lambda opt, n: TableScheduler.warmup_cosine(opt, n, 1e-2, 0.2),
    ),
    "wsd": (
        lambda learn: learn.fit_wsd(2, lr_max=1e-2, warmup_pct=0.2, decay_pct=0.3),
        lambda opt, n: TableScheduler.wsd(opt, n, 1e-2, 0.2, 0.3),
    ),
}


@pytest.mark.parametrize("policy", sorted(LEARNER_FITS))
def test_equals_what_learner_fit_records(policy):
    """For the same number of steps, TableScheduler applies exactly the values that
    Learner.fit_* records (recorder.hps: the last parameter group's lr, and mom)."""
    from torch_adapter.testing import synth_learner

    learn = synth_learner(n_trn=7, splitter=lambda m: [[m.a], [m.b]])  # two parameter groups
    fit, make_sched = LEARNER_FITS[policy]
    with learn.no_logging():
        fit(learn)
    n_steps = learn.n_epoch * len(learn.dls.train)
    recorded = learn.recorder.hps
    assert len(recorded["lr"]) == n_steps

    opt = torch.optim.SGD(params(len(learn.opt.param_groups)), lr=0.1, momentum=0.9)
    got = run(opt, make_sched(opt, n_steps), n_steps, names=tuple(recorded))
    for name, values in recorded.items():
        assert got[name][:, -1].tolist() == values
    assert got["lr"][-1].tolist() == [g["lr"] for g in learn.opt.param_groups]  # every group's last lr


@pytest.mark.requires_matplotlib
def test_fastai_port_example_runs(capsys):
    """examples/fastai_port.py: fastai's schedule examples with only the imports changed."""
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "fastai_port.py"
    runpy.run_path(str(path), run_name="__main__")
    assert "ran unchanged" in capsys.readouterr().out
