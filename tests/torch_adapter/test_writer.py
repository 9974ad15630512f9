"""The one table writer (torch_adapter.optim.TableWriter), used by every scheduler."""

import hashlib
import pickle

import numpy as np
import pytest
import torch

import schedcore
from schedcore import SchedCos, SchedLin, schedule_table
from torch_adapter import LRFinder, ParamScheduler, TableScheduler
from torch_adapter.optim import TableWriter, tensor_hypers
from torch_adapter.testing import synth_learner


def params(n_groups: int = 1) -> list[dict]:
    return [{"params": [torch.zeros(2, requires_grad=True)]} for _ in range(n_groups)]


OPTIMIZERS = {
    "sgd": (lambda g: torch.optim.SGD(params(g), lr=0.1, momentum=0.9), ("momentum", None), None),
    "adam": (lambda g: torch.optim.Adam(params(g), lr=0.1), ("betas", 0), ("betas", 1)),
    "adamw": (lambda g: torch.optim.AdamW(params(g), lr=0.1), ("betas", 0), ("betas", 1)),
    "rmsprop": (lambda g: torch.optim.RMSprop(params(g), lr=0.1, momentum=0.5), ("momentum", None), ("alpha", None)),
}


def read(group: dict, where) -> float:
    key, idx = where
    v = group[key] if idx is None else group[key][idx]
    return float(v)


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("tensors", [False, True])
def test_row_k_lands_in_every_group(opt_name, tensors):
    """Row k of each column reaches its torch key: lr, mom -> momentum/betas[0], sqr_mom -> betas[1]/alpha."""
    make, mom_at, sqr_at = OPTIMIZERS[opt_name]
    opt = make(2)
    if tensors:
        tensor_hypers(opt)
    k = np.arange(5)
    cols = {"lr": np.stack([1e-3 * (k + 1), 1e-2 * (k + 1)], axis=1), "mom": 0.9 - 0.01 * k}
    if sqr_at is not None:
        cols["sqr_mom"] = (0.99 - 0.001 * k).astype(np.float32)
    before = [g["lr"] for g in opt.param_groups]
    writer = TableWriter(opt, cols)
    for row in (0, 3, 4):
        writer.write(row)
        for i, g in enumerate(opt.param_groups):
            assert float(g["lr"]) == pytest.approx(cols["lr"][row, i], rel=1e-6)
            assert read(g, mom_at) == pytest.approx(0.9 - 0.01 * row, rel=1e-6)
            if sqr_at is not None:
                assert read(g, sqr_at) == pytest.approx(0.99 - 0.001 * row, rel=1e-6)
    if tensors:  # written in place: the same tensor objects (what keeps a compiled step's graph)
        assert all(g["lr"] is b for g, b in zip(opt.param_groups, before, strict=True))


def test_device_table_and_tensor_row_index():
    opt = tensor_hypers(torch.optim.AdamW(params(2), lr=0.1))
    writer = TableWriter(opt, {"lr": np.array([[0.1, 0.2], [0.3, 0.4]]), "mom": np.array([0.9, 0.8])}).to("cpu")
    writer.write(torch.tensor(1))
    assert [float(g["lr"]) for g in opt.param_groups] == pytest.approx([0.3, 0.4])
    assert [float(g["betas"][0]) for g in opt.param_groups] == pytest.approx([0.8, 0.8])
    assert writer.columns["lr"].dtype == torch.float32


def test_moving_a_table_keeps_its_host_values_and_fingerprint():
    # values() (TableScheduler.get_lr) and fingerprint() read the table as given: no device read
    # (a CUDA sync) and no float32 rounding -- 0.1 is not a float32
    opt = tensor_hypers(torch.optim.SGD(params(), lr=0.1))
    writer = TableWriter(opt, {"lr": np.array([0.1, 0.3])})
    before = writer.fingerprint(2)
    writer.to("cpu")
    assert writer.columns["lr"].dtype == torch.float32
    assert writer.fingerprint(2) == before
    assert writer.values("lr", 0) == [0.1]  # float64's 0.1, not float32's 0.10000000149...
    sched = TableScheduler(torch.optim.SGD(params(), lr=1.0), schedcore.SchedLin(0.1, 0.2), total_steps=4)
    digest = sched.table_digest
    sched.writer.to("cpu")
    sched.optimizer.step()
    sched.step()
    assert sched.table_digest == digest and sched.get_lr() == [0.125]


def test_fingerprint_formula_and_order_independence():
    opt = torch.optim.SGD(params(), lr=0.1, momentum=0.9)
    lr, mom = np.array([0.1, 0.2]), np.array([0.9, 0.8])
    h = hashlib.blake2b(digest_size=16)
    h.update(b"7")
    for name, v in (("lr", lr), ("mom", mom)):  # sorted by name
        h.update(f"|{name}{v.shape}|".encode())
        h.update(v.tobytes())
    assert TableWriter(opt, {"mom": mom, "lr": lr}).fingerprint(7) == h.hexdigest()
    assert TableWriter(opt, {"lr": lr, "mom": mom + 1e-12}).fingerprint(7) != h.hexdigest()


def test_one_check_for_bad_tables():
    opt = torch.optim.SGD(params(2), lr=0.1)
    with pytest.raises(ValueError, match=r"'lr' has values for \(3,\) groups but the optimizer has 2"):
        TableWriter(opt, {"lr": np.ones((4, 3))})
    with pytest.raises(ValueError, match=r"'lr' has non-finite values \(first at row 2\)"):
        TableWriter(opt, {"lr": np.array([1.0, 1.0, np.nan])})
    with pytest.raises(ValueError, match="'sqr_mom' was given but SGD has no such hyper-parameter"):
        TableWriter(opt, {"lr": np.ones(3), "sqr_mom": np.ones(3)})
    with pytest.raises(ValueError, match="different lengths"):
        TableWriter(opt, {"lr": np.ones(3), "wd": np.ones(4)})
    with pytest.raises(TypeError, match="opt must be a torch.optim.Optimizer; got list"):
        TableWriter([], {"lr": np.ones(3)})
    writer = TableWriter(opt, {"lr": np.ones(3)})
    opt.add_param_group(params(1)[0])
    with pytest.raises(ValueError, match="has 3 parameter groups but this scheduler was built for 2"):
        writer.write(0)


def test_writer_pickles():
    opt = torch.optim.SGD(params(), lr=0.1, momentum=0.9)
    opt2, writer = pickle.loads(pickle.dumps((opt, TableWriter(opt, {"lr": np.array([0.5, 0.25])}))))
    writer.write(1)
    assert writer.opt is opt2 and opt2.param_groups[0]["lr"] == 0.25


def test_every_scheduler_writes_through_the_one_writer():
    """ParamScheduler, LRFinder and TableScheduler hold a TableWriter; the finder overrides no
    scheduling hook, and its table is the lr_range table over num_it steps."""
    assert LRFinder.before_batch is ParamScheduler.before_batch
    learn = synth_learner()
    finder = LRFinder(num_it=8)
    with learn.no_logging():
        learn.fit(1, cbs=finder)
    assert isinstance(finder.writer, TableWriter)
    np.testing.assert_array_equal(finder.table["lr"], schedule_table(schedcore.lr_range(), 8)["lr"])
    sched = ParamScheduler({"lr": SchedCos(0.1, 0.0)})
    with learn.no_logging():
        learn.fit(2, cbs=sched)
    assert isinstance(sched.writer, TableWriter) and isinstance(sched.table["lr"], np.ndarray)
    ts = TableScheduler(torch.optim.SGD(params(), lr=0.1), SchedLin(0.0, 1.0), 4)
    assert isinstance(ts.writer, TableWriter)


def test_param_scheduler_float32_table_and_resume():
    """dtype=float32 applies the float32 table's values; a resumed fit continues at row start."""
    learn = synth_learner()
    sched = ParamScheduler({"lr": SchedCos(1e-2, 1e-3)}, dtype=np.float32)
    with learn.no_logging():
        learn.fit(2, cbs=sched, start_epoch=1)
    expected = schedule_table({"lr": SchedCos(1e-2, 1e-3)}, 20, start=10, dtype=np.float32)["lr"]
    assert sched.table["lr"].dtype == np.float32
    assert learn.recorder.hps["lr"] == expected.tolist()


def test_table_scheduler_float32_from_policy_constructors():
    opt = torch.optim.SGD(params(), lr=0.1, momentum=0.9)
    sched = TableScheduler.one_cycle(opt, 10, 1e-2, dtype=np.float32)
    expected = schedule_table(schedcore.one_cycle(1e-2, n_groups=1), 10, dtype=np.float32)
    assert sched.table["lr"].dtype == np.float32
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == expected["lr"].item(1)
    assert opt.param_groups[0]["momentum"] == expected["mom"].item(1)
    sgdr = TableScheduler.sgdr(opt, None, 2, 1, 1e-2, steps_per_epoch=3, dtype=np.float32)
    assert sgdr.table["lr"].dtype == np.float32 and sgdr.total_steps == 9


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.dtype(">f8"), "strided"])
def test_every_column_layout_writes_the_float_the_table_holds(dtype):
    """The per-step path reads 1-D float64/float32 columns through a memoryview; float16,
    non-native byte order and strided columns take the general path. All write row k's value,
    as a Python float, and a row past the end is an IndexError."""
    base = np.linspace(0.1, 0.9, 7)
    col = np.stack([base, base * 2], axis=1)[:, 1] if dtype == "strided" else base.astype(dtype)
    opt = torch.optim.SGD(params(2), lr=0.1, momentum=0.9)
    writer = TableWriter(opt, {"lr": col, "mom": col[::-1].copy()})
    for k in (0, 3, 6, -1):
        writer.write(k)
        for g in opt.param_groups:
            assert type(g["lr"]) is float and g["lr"] == col.item(k)
            assert type(g["momentum"]) is float and g["momentum"] == col[::-1].item(k)
    with pytest.raises(IndexError):
        writer.write(7)
