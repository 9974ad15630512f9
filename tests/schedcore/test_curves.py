"""Loss-curve files: round trips for every format, other tools' shapes, malformed files."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedcore import SchedExp, smooth_losses
from schedcore.curves import CURVE_FORMAT, LossCurve, curve_from_dict, load_curve, save_curve
from schedcore.suggest import minimum, suggest_lrs, valley

FORMATS = ["csv", "json", "npz"]


def recorded(num_it=100, seed=0):
    rng = np.random.default_rng(seed)
    lrs = SchedExp(1e-7, 10)(np.arange(num_it) / num_it)
    raw = 2 - 1.5 / (1 + np.exp(-(np.log10(lrs) + 3))) + np.exp(2 * np.log10(lrs)) + 0.05 * rng.random(num_it)
    return lrs, smooth_losses(raw), raw


def same(a, b):
    return a is None and b is None or np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_every_format(tmp_path, fmt):
    lrs, losses, raw = recorded()
    losses[-3:] = [np.inf, -np.inf, np.nan]
    opts = {"start_lr": 1e-7, "end_lr": 10, "beta": 0.98, "suggest_funcs": ["valley", "slide"]}
    path = save_curve(tmp_path / f"curve.{fmt}", lrs, losses, raw_losses=raw, num_it=100, settings=opts)
    c = load_curve(path)
    assert same(c.lrs, lrs) and same(c.losses, losses) and same(c.raw_losses, raw)
    assert c.num_it == 100 and c.settings == opts and c.source == str(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_minimal(tmp_path, fmt):
    path = save_curve(tmp_path / f"c.{fmt}", [1e-3, 1e-2], [2.0, 1.0])
    c = load_curve(path)
    assert c.lrs.tolist() == [1e-3, 1e-2] and c.raw_losses is None and c.num_it is None and c.settings == {}


@settings(deadline=None)
@given(
    st.lists(st.tuples(st.floats(1e-12, 1e3), st.floats(allow_nan=True, allow_infinity=True)), min_size=1, max_size=30),
    st.sampled_from(FORMATS),
)
def test_round_trip_property(tmp_path_factory, points, fmt):
    """Any finite lrs and any losses (NaN and inf included) load back bit for bit."""
    lrs, losses = np.array(points).T
    path = save_curve(tmp_path_factory.mktemp("p") / f"c.{fmt}", lrs, losses)
    c = load_curve(path)
    assert same(c.lrs, lrs) and same(c.losses, losses)


def test_json_is_strict_json(tmp_path):
    path = save_curve(tmp_path / "c.json", [1.0, 2.0, 3.0], [1.0, np.nan, np.inf])
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard {c}"))
    assert data["format"] == CURVE_FORMAT and data["loss"] == [1.0, None, "inf"]


def test_pytorch_lr_finder_history(tmp_path):
    lrs, losses, _ = recorded()
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"lr": lrs.tolist(), "loss": losses.tolist()}))
    c = load_curve(path)
    assert same(c.lrs, lrs) and same(c.losses, losses) and c.num_it is None
    assert c.suggest() == suggest_lrs(lrs, losses)
    assert same(curve_from_dict({"lr": lrs.tolist(), "loss": losses.tolist()}).losses, losses)


@pytest.mark.parametrize(
    "shape",
    [
        lambda lrs, losses: {"data": {"lr": lrs, "loss": losses}},
        lambda lrs, losses: {"data": [{"lr": a, "loss": b} for a, b in zip(lrs, losses, strict=True)]},
        lambda lrs, losses: [{"lr": a, "loss": b} for a, b in zip(lrs, losses, strict=True)],
        lambda lrs, losses: {"lrs": lrs, "losses": losses},
    ],
)
def test_lightning_and_other_shapes(tmp_path, shape):
    lrs, losses, _ = recorded(30)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(shape(lrs.tolist(), losses.tolist())))
    c = load_curve(path)
    assert same(c.lrs, lrs) and same(c.losses, losses)


def test_foreign_csv_with_extra_columns_and_sniffing(tmp_path):
    path = tmp_path / "finder.txt"
    path.write_text("step,lr,loss,acc\n0,0.001,2.5,0.1\n1,0.01,2.0,0.2\n2,0.1,3.0,0.2\n")
    c = load_curve(path)
    assert c.lrs.tolist() == [0.001, 0.01, 0.1] and c.losses.tolist() == [2.5, 2.0, 3.0]
    npz = save_curve(tmp_path / "c.npz", [1.0, 2.0], [1.0, 0.5])
    sniffed = tmp_path / "noext"
    sniffed.write_bytes(npz.read_bytes())
    assert load_curve(sniffed).losses.tolist() == [1.0, 0.5]


def test_loss_curve_object(tmp_path):
    lrs, losses, raw = recorded()
    c = LossCurve.of(lrs, losses, raw, num_it=100)
    assert len(c) == 100
    assert c.suggest((minimum, valley)) == suggest_lrs(lrs, losses, 100, (minimum, valley))
    assert same(load_curve(c.save(tmp_path / "c.npz")).raw_losses, raw)


def test_tensors_are_accepted(tmp_path):
    torch = pytest.importorskip("torch")
    lrs, losses, _ = recorded(20)
    path = save_curve(tmp_path / "c.json", torch.tensor(lrs), torch.tensor(losses))
    assert same(load_curve(path).losses, losses)


MALFORMED = [
    ("bad.json", "{not json", "not valid JSON"),
    ("bad.json", '{"lr": [1, 2]}', "no 'loss' column"),
    ("bad.json", '{"lr": [1, 2], "loss": [1]}', "different lengths"),
    ("bad.json", '{"lr": [], "loss": []}', "no points"),
    ("bad.json", '{"lr": [1, null], "loss": [1, 2]}', "lr at point 1 is nan"),
    ("bad.json", '{"lr": [1, 2], "loss": ["a", 2]}', "'loss' must hold numbers"),
    ("bad.json", '{"lr": [1, 2], "loss": [1, 2], "num_it": -4}', "num_it"),
    ("bad.json", '[{"lr": 1}]', "'loss'"),
    ("bad.json", '"text"', "expected a dict"),
    ("bad.csv", "lr,loss\n0.1,2\n0.2,oops\n", "data row 2"),
    ("bad.csv", "a,b\n1,2\n", "needs 'lr' and 'loss'"),
    ("bad.csv", "", "no header"),
    ("bad.csv", "# schedcore-curve-v1 num_it=x\nlr,loss\n1,2\n", "bad num_it"),
    ("bad.npz", "not a zip", "not a readable .npz"),
]


@pytest.mark.parametrize("name,text,problem", MALFORMED)
def test_malformed_files_name_file_and_problem(tmp_path, name, text, problem):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=str(path).replace(".", r"\.") + ": .*" + problem.replace("(", r"\(")):
        load_curve(path)


def test_missing_file_and_bad_saves(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_curve(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="unknown curve format '.txt'"):
        save_curve(tmp_path / "c.txt", [1.0], [1.0])
    with pytest.raises(ValueError, match="settings must be JSON-serialisable"):
        save_curve(tmp_path / "c.json", [1.0], [1.0], settings={"f": object()})
    with pytest.raises(ValueError, match="1-D"):
        save_curve(tmp_path / "c.json", [[1.0]], [[1.0]])
    assert not (tmp_path / "c.json").exists()


def test_failed_write_leaves_old_file(tmp_path):
    path = save_curve(tmp_path / "c.json", [1.0, 2.0], [2.0, 1.0])
    before = path.read_text()
    with pytest.raises(ValueError):
        save_curve(path, [1.0, math.inf], [2.0, 1.0])
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["c.json"]
