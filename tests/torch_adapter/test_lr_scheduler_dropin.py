"""TableScheduler as a plain-PyTorch drop-in: differential learning rates (lr_max=None), pickling
as an object, and extending a warmup-stable-decay run from a checkpoint."""

import io
import pickle

import numpy as np
import pytest
import torch

import schedcore
from torch_adapter.lr_scheduler import TableScheduler

PEAKS = np.array([1e-5, 1e-3])


def two_groups(opt=torch.optim.SGD, **kw):
    w, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(1))
    return opt([{"params": [w], "lr": PEAKS[0]}, {"params": [b], "lr": PEAKS[1]}], **kw)


def run(opt, sched, n):
    """n optimizer steps; the lrs (per group) applied at each."""
    applied = []
    for _ in range(n):
        applied.append([g["lr"] for g in opt.param_groups])
        for p in (q for g in opt.param_groups for q in g["params"]):
            p.grad = torch.ones_like(p)
        opt.step()
        sched.step()
    return np.array(applied)


# ------------------------------------------------------------------------------- lr_max=None

POLICIES = {
    "one_cycle": (lambda o, n, lr: TableScheduler.one_cycle(o, n, lr, moms=None), lambda lr: schedcore.one_cycle(lr, moms=None)),
    "flat_cos": (lambda o, n, lr: TableScheduler.flat_cos(o, n, lr), lambda lr: schedcore.flat_cos(lr)),
    "sgdr": (lambda o, n, lr: TableScheduler.sgdr(o, n, 2, 1, lr), lambda lr: schedcore.sgdr(2, 1, lr)[0]),
    "warmup_cosine": (lambda o, n, lr: TableScheduler.warmup_cosine(o, n, lr, 0.1), lambda lr: schedcore.warmup_cosine(lr, 0.1)),
    "wsd": (lambda o, n, lr: TableScheduler.wsd(o, n, lr, 0.1, 0.2), lambda lr: schedcore.wsd(lr, 0.1, 0.2)),
}


@pytest.mark.parametrize("policy", list(POLICIES))
def test_lr_max_none_keeps_each_groups_lr_as_its_peak(policy):
    build, scheds = POLICIES[policy]
    opt = two_groups()
    sched = build(opt, 60, None)
    applied = run(opt, sched, 60)
    expected = schedcore.schedule_table(scheds(PEAKS), 60)["lr"]  # (60, 2): group g peaks at PEAKS[g]
    np.testing.assert_array_equal(applied, expected)
    np.testing.assert_allclose(applied[:, 1], 100 * applied[:, 0], rtol=1e-12)  # the ratio survives
    assert applied.max(0).tolist() == pytest.approx(PEAKS.tolist(), rel=1e-12)


@pytest.mark.parametrize("policy", list(POLICIES))
def test_scalar_lr_max_gives_every_group_the_same_schedule(policy):
    build, scheds = POLICIES[policy]
    opt = two_groups()
    applied = run(opt, build(opt, 60, 1e-2), 60)
    expected = schedcore.schedule_table(scheds(1e-2), 60)["lr"]
    np.testing.assert_array_equal(applied, np.stack([expected, expected], 1))


def test_one_cycle_none_row_0_is_each_peak_over_div():
    opt = two_groups()
    assert TableScheduler.one_cycle(opt, 10, None, moms=None).get_last_lr() == (PEAKS / 25).tolist()


@pytest.mark.parametrize("scheduler_first", [True, False])
def test_lr_max_none_resumes_exactly_after_optimizer_load_state_dict(scheduler_first):
    """The optimizer state holds the scheduled lr, not the peak: the rebuilt scheduler must find
    the peaks in ``initial_lr`` (as torch's schedulers record them)."""
    opt = two_groups(torch.optim.AdamW)
    sched = TableScheduler.one_cycle(opt, 40, None)
    first = run(opt, sched, 15)
    ckpt = {"opt": opt.state_dict(), "sched": sched.state_dict()}
    rest = run(opt, sched, 25)

    opt2 = two_groups(torch.optim.AdamW)
    if scheduler_first:
        sched2 = TableScheduler.one_cycle(opt2, 40, None)
        opt2.load_state_dict(ckpt["opt"])
    else:
        opt2.load_state_dict(ckpt["opt"])  # its param_groups' lr is now step 15's, not the peak
        sched2 = TableScheduler.one_cycle(opt2, 40, None)
    sched2.load_state_dict(ckpt["sched"])
    np.testing.assert_array_equal(run(opt2, sched2, 25), rest)
    assert first[0].tolist() == (PEAKS / 25).tolist()


# ------------------------------------------------------------------------------------ pickling


@pytest.mark.parametrize("make_opt", [lambda: two_groups(momentum=0.9), lambda: two_groups(torch.optim.AdamW)], ids=["SGD", "AdamW"])
@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_scheduler_with_momentum_pickles_as_an_object(make_opt, how):
    opt = make_opt()
    sched = TableScheduler.one_cycle(opt, 30, None)  # lr and mom
    run(opt, sched, 7)
    if how == "pickle":
        copy = pickle.loads(pickle.dumps(sched))
    else:
        buf = io.BytesIO()
        torch.save(sched, buf)
        buf.seek(0)
        copy = torch.load(buf, weights_only=False)
    assert copy is not sched and copy.optimizer is not opt and copy.last_epoch == 7
    mom = schedcore.schedule_table(schedcore.one_cycle(PEAKS), 30)["mom"]
    for k in range(8, 30):
        copy.optimizer.step()
        copy.step()
        g = copy.optimizer.param_groups[1]
        assert g["lr"] == sched.table["lr"][k, 1]
        assert (g["betas"][0] if "betas" in g else g["momentum"]) == mom[k]


# ------------------------------------------------------------------------------ extending WSD

N, W, D, LR = 100, 10, 20, 1e-3


def wsd_run(total, **kw):
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.ones(2))])
    kw = {"warmup_steps": W, "decay_steps": D, **kw}
    return opt, TableScheduler.wsd(opt, total, LR, **kw)


@pytest.mark.parametrize("k", [W - 3, W, 50, N - D - 1])
def test_wsd_extends_from_a_checkpoint_before_its_decay(k):
    opt, sched = wsd_run(N)
    applied = run(opt, sched, k)
    state = sched.state_dict()
    opt2, longer = wsd_run(250, decay_steps=50)
    longer.load_state_dict(state)
    assert longer.last_epoch == k and longer.total_steps == 250
    assert opt2.param_groups[0]["lr"] == longer.table["lr"][k] == pytest.approx(sched.table["lr"][k], rel=1e-12)
    # the rows already applied are the new schedule's rows: the stable ones bitwise, the warmup
    # ones to float rounding (positions k/250 instead of k/100)
    new = longer.table["lr"][: k + 1]
    np.testing.assert_allclose(applied[:, 0], new[:k], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(new[W:], LR)
    np.testing.assert_array_equal(sched.table["lr"][W : k + 1], LR)
    # and the run goes on as a fresh 250-step run with the same settings does
    _, fresh = wsd_run(250, decay_steps=50)
    np.testing.assert_array_equal(run(opt2, longer, 250 - k)[:, 0], fresh.table["lr"][k:])


def test_wsd_extension_with_a_float32_table():
    opt, sched = wsd_run(N, dtype=np.float32)
    run(opt, sched, 5)  # in the warmup: rows recomputed at k/300 agree to float32 rounding
    opt2, longer = wsd_run(300, dtype=np.float32)
    longer.load_state_dict(sched.state_dict())
    assert longer.table["lr"].dtype == np.float32 and opt2.param_groups[0]["lr"] == float(longer.table["lr"][5])
    with pytest.raises(ValueError, match="its WSD settings do not give its table"):
        wsd_run(300)[1].load_state_dict(sched.state_dict() | {"table_digest": "0" * 32})


def test_wsd_extension_can_be_resumed_and_extended_again():
    opt, sched = wsd_run(N)
    run(opt, sched, 40)
    opt, mid = wsd_run(200)
    mid.load_state_dict(sched.state_dict())
    run(opt, mid, 60)
    same = wsd_run(200)[1]
    same.load_state_dict(mid.state_dict())  # same length: the usual exact resume
    assert same.last_epoch == 100
    opt, last = wsd_run(400)
    last.load_state_dict(mid.state_dict())
    assert last.last_epoch == 100 and opt.param_groups[0]["lr"] == LR


@pytest.mark.parametrize(
    "longer,k,message",
    [
        (lambda: wsd_run(200, warmup_steps=None, warmup_pct=0.1), 50, "warmup_steps=10"),  # warmup 20 steps now
        (lambda: wsd_run(200), 90, "resume before the old decay began (step 80)"),  # checkpoint in the decay
        (lambda: wsd_run(200, warmup_start=1e-5), 50, "step 0 had lr 0.0 and would now have 1e-05"),
        (lambda: (None, TableScheduler.wsd(torch.optim.AdamW([torch.nn.Parameter(torch.ones(2))]), 200, 2 * LR, warmup_steps=W, decay_steps=D)), 50, "Keep lr_max"),
    ],
)
def test_wsd_extension_refused_when_applied_rows_would_change(longer, k, message):
    opt, sched = wsd_run(N)
    run(opt, sched, k)
    with pytest.raises(ValueError, match="cannot resume this WSD checkpoint") as e:
        longer()[1].load_state_dict(sched.state_dict())
    assert message in str(e.value)


@pytest.mark.parametrize(
    "build",
    [
        lambda o, n: TableScheduler.one_cycle(o, n, LR),
        lambda o, n: TableScheduler.warmup_cosine(o, n, LR, 0.1),
        lambda o, n: TableScheduler(o, schedcore.wsd(LR, 0.1, 0.2), n),  # a WSD dict, not TableScheduler.wsd
    ],
)
def test_other_schedules_say_what_changing_the_length_allows(build):
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.ones(2))])
    sched = build(opt, N)
    run(opt, sched, 30)
    with pytest.raises(ValueError) as e:
        build(opt, 2 * N).load_state_dict(sched.state_dict())
    msg = str(e.value)
    assert "total_steps 100 in the checkpoint, 200 here" in msg
    assert "only a TableScheduler.wsd run can change its length on resume" in msg


def test_wsd_phase_arguments():
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.ones(2))])
    a = TableScheduler.wsd(opt, 100, LR, warmup_steps=10, decay_steps=20).table["lr"]
    b = TableScheduler.wsd(opt, 100, LR, 0.1, 0.2).table["lr"]
    np.testing.assert_array_equal(a, b)
    assert a[9] < LR and a[10] == LR and a[80] == LR and a[81] < LR
    for kw, msg in [
        ({"warmup_pct": 0.1, "warmup_steps": 10, "decay_pct": 0.2}, "give warmup_pct or warmup_steps"),
        ({"decay_pct": 0.2}, "give warmup_pct or warmup_steps"),
        ({"warmup_steps": 101, "decay_pct": 0.2}, r"warmup_steps must be an integer in \[0, total_steps=100\]; got 101"),
        ({"warmup_steps": 2.5, "decay_pct": 0.2}, "warmup_steps must be an integer"),
    ]:
        with pytest.raises(ValueError, match=msg):
            TableScheduler.wsd(opt, 100, LR, **kw)
