"""Distributed data-parallel training: 2 CPU processes on gloo, each run bounded by a hard timeout.

Each scenario of ``ddp_worker.py`` runs as two processes with torchrun's environment variables
on a free localhost port; a run that does not end in time is killed and the test fails, so a
hang can never block CI. One run serves several tests (module-scoped fixtures) to keep the file
fast on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torch_adapter.distributed import ShardSampler, distrib_ctx, setup_distrib, shard_loader
from torch_adapter.testing import synth_learner

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")

WORKER = Path(__file__).with_name("ddp_worker.py")
ROOT = Path(__file__).resolve().parents[2]
WORLD = 2


@dataclass
class Rank:
    rc: int | None  # None: killed by the harness after another rank failed (as torchrun does)
    stdout: str
    stderr: str
    result: dict | None
    seconds: float
    ended_at: float  # wall clock (time.time()) when the process was seen ended


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(scenario: str, out: Path, limit: float = 45.0, pg_timeout: float = 30.0,
           kill_rest_on_failure: bool = False, extra_env: dict | None = None) -> list[Rank]:  # fmt: skip
    """Run ``scenario`` on WORLD processes; fail the test if they are not all done within ``limit`` s."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": str(WORLD),
           "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "DDP_TEST_TIMEOUT": str(pg_timeout), "MPLBACKEND": "Agg", **(extra_env or {})}  # fmt: skip
    procs, logs, start, start_wall = [], [], time.monotonic(), time.time()
    for r in range(WORLD):
        so, se = open(out / f"{scenario}-{r}.out", "w+"), open(out / f"{scenario}-{r}.err", "w+")
        logs.append((so, se))
        procs.append(subprocess.Popen([sys.executable, str(WORKER), scenario, str(out)], stdout=so, stderr=se,
                                      env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, start_new_session=True))  # fmt: skip
    ends: list[float | None] = [None] * WORLD
    killed = [False] * WORLD
    try:
        while None in ends and time.monotonic() - start < limit:
            for r, p in enumerate(procs):
                if ends[r] is None and p.poll() is not None:
                    ends[r] = time.monotonic() - start
            if kill_rest_on_failure and any(p.returncode not in (None, 0) for p in procs):
                for r, p in enumerate(procs):
                    if p.poll() is None:
                        os.killpg(p.pid, signal.SIGKILL)
                        killed[r] = True
            time.sleep(0.05)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    ranks = []
    for r, (p, (so, se)) in enumerate(zip(procs, logs, strict=True)):
        so.seek(0), se.seek(0)
        res = out / f"{scenario}-rank{r}.json"
        ranks.append(Rank(None if killed[r] else p.returncode, so.read(), se.read(),
                          json.loads(res.read_text()) if res.exists() else None, ends[r] or limit,
                          start_wall + (ends[r] or limit)))  # fmt: skip
        so.close(), se.close()
    hung = [r for r in range(WORLD) if ends[r] is None and not killed[r]]
    if hung:
        pytest.fail(f"{scenario}: ranks {hung} still running after {limit} s (killed)\n" + _dump(ranks))
    return ranks


def _dump(ranks: list[Rank]) -> str:
    return "\n".join(f"--- rank {r}: rc={k.rc}\n{k.stdout[-2000:]}\n{k.stderr[-3000:]}" for r, k in enumerate(ranks))


def _ok(ranks: list[Rank]) -> list[dict]:
    if any(k.rc != 0 for k in ranks):
        pytest.fail("a rank failed\n" + _dump(ranks))
    return [k.result for k in ranks]


@pytest.fixture(scope="module")
def fit_run(tmp_path_factory):
    pytest.importorskip("matplotlib")  # the worker plots on rank 0
    ranks = launch("fit", tmp_path_factory.mktemp("ddp_fit"))
    return ranks, _ok(ranks)


@pytest.fixture(scope="module")
def valid_run(tmp_path_factory):
    return _ok(launch("valid", tmp_path_factory.mktemp("ddp_valid")))


# ------------------------------------------------------------------------ fit_one_cycle
def test_fit_parameters_identical_on_both_ranks(fit_run):
    """Different initial weights on each rank; DDP makes them equal, and they stay equal."""
    _, (r0, r1) = fit_run
    assert r0["params"] == r1["params"]


def test_fit_hps_identical(fit_run):
    _, (r0, r1) = fit_run
    assert r0["hps"] == r1["hps"] and sorted(r0["hps"]) == ["lr", "mom"]
    assert len(r0["hps"]["lr"]) == 3 * r0["inside"]["n_train"] == 9  # 6 batches of 16 -> 3 per rank per epoch


def test_fit_loss_goes_down_and_is_the_mean_over_ranks(fit_run):
    _, (r0, r1) = fit_run
    assert r0["losses"] == r1["losses"]  # the mean over ranks, recorded identically on both
    assert r0["values"] == r1["values"]
    assert r0["losses"][-1] < r0["losses"][0]
    assert r0["values"][-1][1] < r0["values"][0][1] / 4  # validation loss


def test_fit_only_rank0_logs_plots_and_writes(fit_run):
    ranks, (r0, r1) = fit_run
    assert "train_loss" in ranks[0].stdout and ranks[0].stdout.count("\n") >= 4  # header + 3 epochs
    assert "train_loss" not in ranks[1].stdout and ranks[1].stdout.strip() == ""
    assert r0["saves"] == [0] and r1["saves"] == []  # torch.save called on rank 0 only
    assert r0["saved"] == r1["saved"] and Path(r0["saved"]).exists()  # rank 1 got rank 0's path, after it
    assert r0["fig"] and not r1["fig"]


def test_distrib_ctx_swaps_no_method_and_sets_is_main_on_rank0_only(fit_run):
    """Inside the block no instance attribute of the Learner or its Recorder shadows a method:
    rank 0's writes and plots come from ``learn.is_main`` and the hooks, not wrapped methods."""
    _, (r0, r1) = fit_run
    assert r0["inside"]["swapped"] == [] and r1["inside"]["swapped"] == []
    assert (r0["inside"]["is_main"], r1["inside"]["is_main"]) == (True, False)


def test_fit_shards_and_reshuffles_every_epoch(fit_run):
    _, (r0, r1) = fit_run
    for e in range(3):
        assert len(r0["xs"][e]) == len(r1["xs"][e]) == 48
        assert not set(r0["xs"][e]) & set(r1["xs"][e])  # disjoint halves of the 96 items
    assert r0["xs"][0] != r0["xs"][1] != r0["xs"][2]  # set_epoch: a new order each epoch
    assert set(r0["xs"][0]) | set(r1["xs"][0]) == set(r0["xs"][1]) | set(r1["xs"][1])


def test_everything_undone_on_exit_and_on_error(fit_run):
    _, results = fit_run
    for r in results:
        assert all(r["undone"].values()), r["undone"]
        assert all(r["undone_after_error"].values()), r["undone_after_error"]


# ----------------------------------------------------------------- validation, save/load
def test_validation_over_uneven_set_equals_single_process(valid_run):
    r0, r1 = valid_run
    assert (r0["n_valid_batches"], r1["n_valid_batches"]) == (3, 2)  # 7 and 6 of 13 items, batches of 3
    for r in (r0, r1):
        assert r["dist_before"] == pytest.approx(r0["single_before"], rel=1e-6)
        assert r["in_fit"] == pytest.approx(r["single_after"], rel=1e-6)
    assert r0["dist_before"][2] == pytest.approx(r0["target_mean"], rel=1e-6)  # each item counted once


def test_uses_and_keeps_a_process_group_the_script_created(valid_run):
    assert all(r["users_group_kept"] for r in valid_run)


def test_save_on_rank0_load_on_both_into_plain_model(valid_run):
    r0, r1 = valid_run
    for r in (r0, r1):
        assert r["loaded"] == r["saved"] == r0["saved"]
        assert r["keys"] == ["a", "b"] and r["plain"] == r0["saved"]  # no "module." prefix


# ------------------------------------------------------------------------------ lr_find
@pytest.mark.requires_matplotlib
def test_lr_find_ranks_agree_on_stop_restore_and_suggestion(tmp_path):
    r0, r1 = _ok(launch("lr_find", tmp_path))
    assert r0["n_lrs"] == r1["n_lrs"] < 80  # rank 1 diverged: both stopped, at the same batch
    assert r0["losses"] == r1["losses"]
    assert r0["suggestion"] == r1["suggestion"]
    assert r0["restored"] and r1["restored"] and r0["lr"] == r0["lr_before"] and r1["lr"] == r1["lr_before"]
    assert r0["fig"] and not r1["fig"] and r0["curve_there"] and r1["curve_there"]


def test_nonfinite_loss_on_one_rank_stops_or_skips_every_rank_at_the_same_step(tmp_path):
    """rank 1's loss is NaN at step 4 of 8: both stop there (or both skip that step only, params stay finite)."""
    r0, r1 = _ok(launch("nonfinite", tmp_path))
    for run, n_losses in [("stop", 4), ("skip", 8), ("stop_allreduce", 4)]:  # skip: as one process, recorded
        a, b = r0[run], r1[run]
        assert a["n_losses"] == b["n_losses"] == n_losses, run
        assert a["params"] == b["params"] and a["finite"] and b["finite"], run
        assert a["warned"] and b["warned"], run


# ------------------------------------------------------------------------------ failures
def test_exception_on_rank1_ends_both_ranks_quickly(tmp_path):
    """rank 1 raises mid-fit; rank 0, blocked in a collective, fails as soon as rank 1 leaves."""
    ranks = launch("error", tmp_path, limit=40, pg_timeout=30)
    assert ranks[0].rc not in (0, None) and ranks[1].rc not in (0, None), _dump(ranks)
    assert "deliberate failure on rank 1" in ranks[1].stderr
    assert "rank 1 (RuntimeError: deliberate failure on rank 1) left the job; rank 0 stops too" in ranks[0].stderr
    failed = float((tmp_path / "failed-at").read_text())
    assert max(k.ended_at for k in ranks) - failed < 25  # well inside the 30 s collective timeout


@pytest.mark.parametrize("exiting", [1, 0])
def test_sys_exit_on_one_rank_ends_every_rank_within_seconds(tmp_path, exiting):
    """A rank calls sys.exit(3) mid-epoch while the other is in a collective (collective timeout:
    120 s). Every rank ends within seconds of the call (issue 11's target: 10 s on 2 CPU processes;
    the bound here is looser for a loaded machine, and far below the timeout), the exiting one with
    its own code; the others name the rank that left (rank 0 prints it)."""
    ranks = launch("exit", tmp_path, limit=150, pg_timeout=120, extra_env={"EXIT_RANK": str(exiting)})
    called = float((tmp_path / "exit-called").read_text())
    after = [round(k.ended_at - called, 1) for k in ranks]
    print(f"sys.exit on rank {exiting}: ranks ended {after} s after the call")
    other = 1 - exiting
    assert ranks[exiting].rc == 3, _dump(ranks)
    assert ranks[other].rc not in (0, None), _dump(ranks)
    assert f"rank {exiting} leaves the job (sys.exit(3))" in ranks[exiting].stderr
    if exiting == 1:
        assert "rank 1 (sys.exit(3)) left the job; rank 0 stops too" in ranks[0].stderr, _dump(ranks)
    else:  # rank 0 hosts the store: rank 1 reads its note, or finds the store gone with it
        said = r"rank 0 \((sys\.exit\(3\))\)|rank 0 \(or the launcher\), which hosts the job's store,"
        assert re.search(rf"({said}) left the job; rank 1 stops too", ranks[1].stderr), _dump(ranks)
    assert max(after) < 30, after


_LEAVER = """
import atexit, os, sys
from pathlib import Path
out = Path(sys.argv[1])
def ran(name):
    with open(out / "handlers", "a") as f:
        f.write(name + " ")

atexit.register(ran, "before")  # registered before ours
log = open(out / "log.txt", "w")  # never closed: a normal exit flushes it at finalization
log.write("buffered line")

class Finalized:
    def __del__(self):
        (out / "finalized").write_text("yes")

marker = Finalized()  # module global: its __del__ runs only in interpreter finalization
from torch_adapter.testing import synth_learner
learn = synth_learner()
how = sys.argv[2]
try:
    with learn.distrib_ctx(timeout=30), learn.no_logging():
        atexit.register(ran, "inside")  # registered after ours, before the error
        if how == "exit3": sys.exit(3)
        if how == "exit-text": sys.exit("bye from rank 0")
        if how == "exit-none": sys.exit()
        if how in ("error", "caught", "late-handler"): raise RuntimeError("deliberate")
        if how == "ctrl-c": raise KeyboardInterrupt
except RuntimeError:
    if how == "late-handler":
        atexit.register(ran, "after")  # registered after the error: Python ends the process as usual
    if how not in ("caught", "late-handler"):
        raise
    sys.exit(7)  # the error that left the block was caught: the process ends its own way
"""


@pytest.mark.parametrize(
    "how, rc, ends_at_once",
    [("exit3", 3, True), ("exit-text", 1, True), ("exit-none", 0, True), ("error", 1, True),
     ("ctrl-c", -signal.SIGINT, True), ("caught", 7, False), ("late-handler", 7, False)],
)  # fmt: skip
def test_a_leaving_rank_exits_with_its_own_status_and_loses_no_data(tmp_path, how, rc, ends_at_once):
    """A rank that leaves on an error ends with the status Python would give it (sys.exit's code,
    1 for an exception, killed by SIGINT for Ctrl-C) without the C++ teardown of the process
    group, which aborted such a rank (SIGABRT, "terminate called without an active exception")
    in about 1 exit in 10 when a peer was blocked in a collective with it (CI, stop 17). What a
    normal exit does first still happens: every other at-exit handler runs, each exactly once
    (registered before the group or after it), and open files are flushed. When the error was
    caught and the process ends some other way, or a handler was registered after the error,
    Python ends it as usual."""
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "1",
           "RANK": "0", "LOCAL_RANK": "0", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    p = subprocess.run([sys.executable, "-c", _LEAVER, str(tmp_path), how], env=env, capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert p.returncode == rc, p.stderr[-3000:]
    handlers = (tmp_path / "handlers").read_text().split()
    assert sorted(handlers) == sorted(["before", "inside"] + ["after"] * (how == "late-handler")), handlers
    assert (tmp_path / "log.txt").read_text() == "buffered line"
    assert (tmp_path / "finalized").exists() is not ends_at_once, p.stderr[-3000:]
    # a caught error is no reason to leave once every rank is ending too: a normal exit, unannounced
    assert ("rank 0 leaves the job" in p.stderr) is ends_at_once, p.stderr[-3000:]
    if how == "exit-text":
        assert "bye from rank 0" in p.stderr


def test_an_error_caught_on_one_rank_still_releases_the_others(tmp_path):
    """rank 1's error is caught by its script, which then ends normally (status 0), while rank 0
    waits in a collective for it: rank 1 waits at most 5 s for the others at exit, finds rank 0
    elsewhere, leaves (announcing why), and rank 0 fails at once naming it."""
    ranks = launch("caught", tmp_path, limit=90, pg_timeout=60)
    failed = float((tmp_path / "failed-at").read_text())
    print(f"caught on rank 1: ranks ended {[round(k.ended_at - failed, 1) for k in ranks]} s after the error")
    assert ranks[1].rc == 0 and ranks[1].result == {"caught": True}, _dump(ranks)
    assert ranks[0].rc not in (0, None), _dump(ranks)
    assert "rank 1 leaves the job (RuntimeError: deliberate failure on rank 1)" in ranks[1].stderr, _dump(ranks)
    assert "rank 1 (RuntimeError: deliberate failure on rank 1) left the job; rank 0 stops too" in ranks[0].stderr
    assert max(k.ended_at for k in ranks) - failed < 30  # the 5 s wait, far below the 60 s timeout


def test_ragged_iterable_dataset_fails_clearly_on_every_rank(tmp_path):
    """An IterableDataset that yields one batch more on rank 1 than on rank 0 (same reported length):
    the documented error on every rank within seconds, not a gloo abort (SIGABRT) or a hang."""
    ranks = launch("ragged", tmp_path, limit=150, pg_timeout=120)
    print(f"ragged iterable: ranks ended {[round(k.seconds, 1) for k in ranks]} s after their start")
    for k in ranks:
        assert k.rc == 1, _dump(ranks)  # an exception, not a signal
        assert "different numbers of training batches this epoch: after 4 batches" in k.stderr, _dump(ranks)
        assert "left the job" not in k.stderr  # every rank found the problem itself: nobody is blamed
        assert k.seconds < 40


def test_stuck_rank_times_out_the_others(tmp_path):
    """rank 1 stops responding; rank 0's collective times out after 3 s and it exits non-zero
    (timed from the stall: the processes' start-up, stretched on a loaded machine, is not the
    point; CI once took 22.4 s from the start against a 20 s bound)."""
    ranks = launch("hang", tmp_path, limit=60, pg_timeout=3, kill_rest_on_failure=True)
    assert ranks[0].rc not in (0, None), _dump(ranks)
    stalled = float((tmp_path / "failed-at").read_text())
    assert ranks[0].ended_at - stalled < 20


def test_unequal_batch_counts_fail_fast_on_every_rank(tmp_path):
    ranks = launch("mismatch", tmp_path, limit=40, pg_timeout=30)
    for k in ranks:
        assert k.rc not in (0, None) and "different numbers of training batches" in k.stderr, _dump(ranks)
        assert k.seconds < 25


# --------------------------------------------------------------- single-process helpers
def test_shard_sampler_partitions_or_pads():
    parts = [list(ShardSampler(range(7), 3, r)) for r in range(3)]
    assert sorted(sum(parts, [])) == list(range(7)) and [len(p) for p in parts] == [3, 2, 2]
    padded = [list(ShardSampler(range(7), 3, r, pad=True)) for r in range(3)]
    assert [len(p) for p in padded] == [3, 3, 3] and sorted(sum(padded, [])) == sorted([*range(7), 0, 1])
    with pytest.raises(ValueError, match="rank must be in"):
        ShardSampler(range(3), 2, 2)
    with pytest.raises(TypeError, match="no length"):
        ShardSampler(iter(range(3)), 2, 0)


def test_shard_loader_keeps_loader_settings():
    ds = TensorDataset(torch.arange(10.0))
    dl = DataLoader(ds, batch_size=3, shuffle=True, drop_last=True)
    train = shard_loader(dl, rank=1, world=2, train=True, seed=5)
    assert (train.batch_size, train.drop_last, train.sampler.shuffle, train.sampler.seed) == (3, True, True, 5)
    valid = shard_loader(DataLoader(ds, batch_size=4), rank=1, world=2, train=False)
    assert [b[0].tolist() for b in valid] == [[1.0, 3.0, 5.0, 7.0], [9.0]]


def test_not_launched_is_a_plain_fit(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    learn = synth_learner()
    with distrib_ctx(learn), learn.no_logging():
        learn.fit(1)
    assert isinstance(learn.model, nn.Module) and not dist.is_initialized()


def test_bad_arguments(monkeypatch):
    with pytest.raises(ValueError, match="timeout must be a positive"):
        setup_distrib(timeout=0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(ValueError, match="MASTER_PORT"):
        setup_distrib()
    learn = synth_learner()
    learn.model = nn.parallel.DistributedDataParallel.__new__(nn.parallel.DistributedDataParallel)
    with pytest.raises(TypeError, match="plain model"):
        with distrib_ctx(learn):
            pass


# ------------------------------------------------- the public hooks, in one process
def test_save_plots_and_lr_find_consult_is_main_and_the_hooks(tmp_path):
    """``is_main`` False (a rank other than 0): no plot, no ``lr_find`` file; ``save`` and
    ``save_curve`` write through ``share_main``; ``lr_find`` waits at ``barrier``."""
    learn = synth_learner(path=tmp_path)
    assert learn.is_main is True and learn.share_main is None and learn.barrier is None
    calls = []
    learn.share_main = lambda fn: calls.append(fn.__name__) or "from rank 0"
    learn.barrier = lambda: calls.append("barrier")
    learn.is_main = False
    with learn.no_logging():
        learn.fit(1)
    assert learn.recorder.plot_loss() is None and learn.recorder.plot_sched(keys=["lr"]) is None
    assert learn.save("m") == "from rank 0" and not (tmp_path / "models").exists()
    assert learn.recorder.save_curve(tmp_path / "c.csv") == "from rank 0" and not (tmp_path / "c.csv").exists()
    learn.lr_find(num_it=6, show_plot=True, save_to=tmp_path / "lr.csv", suggest_funcs=None)
    assert not (tmp_path / "lr.csv").exists() and learn.recorder.lr_find_fig is None
    assert calls == ["save", "save_curve", "barrier"]
    learn.is_main, learn.share_main, learn.barrier = True, None, None
    assert learn.save("m").exists()
    learn.lr_find(num_it=6, show_plot=False, save_to=tmp_path / "lr.csv", suggest_funcs=None)
    assert (tmp_path / "lr.csv").exists()
