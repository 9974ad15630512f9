"""Curve files, value by value: each format's exact bytes/keys, sniffing, error lines, metadata."""

import json
import math

import numpy as np
import pytest

from schedcore.curves import CURVE_FORMAT, LossCurve, curve_from_dict, load_curve, save_curve
from schedcore.suggest import minimum

LRS = [1e-3, 1e-2, 1e-1]
LOSSES = [2.0, 1.0, 3.0]
RECORDS = json.dumps([{"lr": a, "loss": b} for a, b in zip(LRS, LOSSES, strict=True)])
HISTORY = json.dumps({"lr": LRS, "loss": LOSSES})


def loaded(path, text):
    path.write_text(text)
    return load_curve(path)


def test_suggest_trims_with_the_curves_num_it():
    """lr_find keeps points [num_it // 10 : -5]: num_it=100 drops the first 10 of 30 points,
    so the minimum at point 5 is cut and the one at point 15 wins (num_it=None keeps point 5)."""
    lrs = np.geomspace(1e-6, 1.0, 30)
    losses = np.full(30, 2.0)
    losses[5], losses[15] = 0.5, 1.0
    curve = LossCurve.of(lrs, losses, num_it=100)
    assert curve.suggest((minimum,)).minimum == lrs[15] / 10
    assert LossCurve.of(lrs, losses).suggest((minimum,)).minimum == lrs[5] / 10


def test_curve_from_dict_errors_name_the_default_source_once():
    with pytest.raises(ValueError, match=r"^<dict>: no 'loss' column"):
        curve_from_dict({"lr": [1.0]})
    # a message that already starts with the source is not prefixed a second time
    source = "columns have different lengths"
    with pytest.raises(ValueError) as e:
        curve_from_dict({"lr": [1.0, 2.0], "loss": [1.0]}, source)
    assert str(e.value) == "columns have different lengths: {'lr': 2, 'loss': 1}"


@pytest.mark.parametrize("name", ["c.csv", "c.CSV", "c.json", "c.npz"])
def test_known_extensions_are_not_sniffed(tmp_path, name):
    """A CSV whose first column is named '[step]' still reads as CSV when it says .csv."""
    path = tmp_path / name
    if name.endswith("json"):
        path.write_text(HISTORY)
    elif name.endswith("npz"):
        with open(path, "wb") as f:
            np.savez(f, lr=np.array(LRS), loss=np.array(LOSSES))
    else:
        path.write_text("[step],lr,loss\n0,0.001,2.0\n1,0.01,1.0\n2,0.1,3.0\n")
    c = load_curve(path)
    assert c.lrs.tolist() == LRS and c.losses.tolist() == LOSSES
    assert c.num_it is None and c.settings == {} and c.raw_losses is None


@pytest.mark.parametrize(
    "text",
    [
        "\n \t" + HISTORY,  # leading blanks before JSON
        " " * 63 + HISTORY,  # the '{' is the 64th byte
        "\n" + RECORDS,  # Lightning's list of records
        "\ufeff" + RECORDS,  # UTF-8 byte-order mark
        "lr,loss\n0.001,2.0\n0.01,1.0\n0.1,3.0\n",
    ],
)
def test_unknown_extension_is_sniffed_from_the_first_64_bytes(tmp_path, text):
    c = loaded(tmp_path / "curve.txt", text)
    assert c.lrs.tolist() == LRS and c.losses.tolist() == LOSSES


def test_sniffing_reads_only_64_bytes(tmp_path):
    """65 blanks then JSON: the first 64 bytes look like neither npz nor JSON, so it is CSV."""
    with pytest.raises(ValueError, match="needs 'lr' and 'loss' columns"):
        loaded(tmp_path / "curve.txt", " " * 64 + HISTORY)


@pytest.mark.parametrize("header", ["lr,x", "x,loss", "lrs,raw_loss"])
def test_csv_needs_both_lr_and_loss(tmp_path, header):
    with pytest.raises(ValueError, match=f"the header '{header}' needs 'lr' and 'loss' columns"):
        loaded(tmp_path / "c.csv", f"{header}\n1.0,2.0\n")


@pytest.mark.parametrize(
    "body, line",
    [
        ("0.1,2.0,,,x\n1.0,1.0,,,0\n", 1),
        ("0.1,2.0,,,1\n1.0,1.0,,,y\n", 2),
        ("0.1,2.0,abc,,1\n1.0,1.0,abc,,0\n", 1),
    ],
)
def test_csv_bad_points_left_or_num_it_name_the_data_row(tmp_path, body, line):
    with pytest.raises(ValueError, match=rf"data row {line} \("):
        loaded(tmp_path / "c.csv", "lr,loss,num_it,settings,points_left\n" + body)


def test_points_left_must_end_at_zero_not_below(tmp_path):
    with pytest.raises(ValueError, match=r"must count down by one to 0; got \[0\.0, -1\.0\]"):
        loaded(tmp_path / "c.csv", "lr,loss,points_left\n0.1,2.0,0\n1.0,1.0,-1\n")


def test_csv_metadata_comes_from_the_first_row(tmp_path):
    """num_it and settings are read from the first data row; later rows' entries are ignored."""
    enc = "%7B%22beta%22%3A0.98%7D"  # {"beta":0.98}
    c = loaded(tmp_path / "c.csv", f"lr,loss,num_it,settings,points_left\n0.1,2.0,5,{enc},1\n1.0,1.0,,,0\n")
    assert (c.num_it, c.settings) == (5, {"beta": 0.98})
    assert c.lrs.tolist() == [0.1, 1.0] and c.losses.tolist() == [2.0, 1.0]


def test_csv_without_metadata_columns_and_with_extra_columns(tmp_path):
    """points_left alone is enough; a column the rows lack (not one we read) is ignored."""
    c = loaded(tmp_path / "c.csv", "lr,loss,points_left\n0.1,2.0,1\n1.0,1.0,0\n")
    assert (c.lrs.tolist(), c.losses.tolist(), c.num_it, c.settings) == ([0.1, 1.0], [2.0, 1.0], None, {})
    c = loaded(tmp_path / "d.csv", "lr,loss,num_it,points_left,note\n0.1,2.0,7,1\n1.0,1.0,7,0\n")
    assert (c.lrs.tolist(), c.num_it) == ([0.1, 1.0], 7)


@pytest.mark.parametrize(
    "comment, num_it, settings",
    [
        ("# schedcore-curve-v1 num_it=12", 12, {}),
        ("## schedcore-curve-v1 num_it=12", 12, {}),
        ("# settings={\"a\": 1}", None, {"a": 1}),
        ("#Xsettings=3", None, {}),  # not a settings comment: ignored
    ],
)
def test_old_csv_comment_metadata(tmp_path, comment, num_it, settings):
    c = loaded(tmp_path / "c.csv", f"{comment}\nlr,loss\n0.1,2.0\n")
    assert (c.num_it, c.settings) == (num_it, settings)


def test_old_csv_comment_with_two_num_its_is_refused(tmp_path):
    with pytest.raises(ValueError, match="bad num_it in comment"):
        loaded(tmp_path / "c.csv", "# schedcore-curve-v1 num_it=3 num_it=4\nlr,loss\n0.1,2.0\n")


def test_npz_meta_and_foreign_npz(tmp_path):
    path = LossCurve.of(LRS, LOSSES, num_it=3, settings={"beta": 0.9}).save(tmp_path / "c.npz")
    with np.load(path) as z:
        assert sorted(z.files) == ["__meta__", "loss", "lr"]
        assert json.loads(str(z["__meta__"])) == {"format": CURVE_FORMAT, "num_it": 3, "settings": {"beta": 0.9}}
    foreign = tmp_path / "foreign.npz"
    with open(foreign, "wb") as f:
        np.savez(f, lr=np.array(LRS), loss=np.array(LOSSES))
    c = load_curve(foreign)
    assert (c.lrs.tolist(), c.losses.tolist(), c.num_it, c.settings) == (LRS, LOSSES, None, {})


def test_json_null_and_infinity_strings():
    c = curve_from_dict({"lr": [1, 2, 3, 4, 5], "loss": [None, "inf", "-Infinity", " NaN ", 1]})
    assert math.isnan(c.losses[0]) and math.isnan(c.losses[3])
    assert c.losses[[1, 2, 4]].tolist() == [math.inf, -math.inf, 1.0]


SETTINGS = {"a/b": "x y", "n": [1, 2]}
SETTINGS_CSV = "%7B%22a%2Fb%22%3A%22x%20y%22%2C%22n%22%3A%5B1%2C2%5D%7D"  # compact JSON, every reserved char quoted


def test_csv_text_exact(tmp_path):
    path = save_curve(tmp_path / "c.csv", [1e-3, 0.1], [2.5, math.nan], [3.0, -math.inf], num_it=7, settings=SETTINGS)
    assert path == tmp_path / "c.csv"
    assert path.read_text() == (
        "lr,loss,raw_loss,num_it,settings,points_left\n"
        f"0.001,2.5,3.0,7,{SETTINGS_CSV},1\n"
        "0.1,nan,-inf,7,,0\n"
    )
    c = load_curve(path)
    assert (c.num_it, c.settings, c.source) == (7, SETTINGS, str(path))
    assert c.raw_losses.tolist() == [3.0, -math.inf] and c.losses[0] == 2.5 and math.isnan(c.losses[1])


def test_to_dict_and_json_file_exact(tmp_path):
    c = LossCurve.of((1.0, 2.0, 3.0), [math.nan, math.inf, -math.inf], [0.5, 1.5, 2.5], 3, {"beta": 0.98})
    expected = {
        "format": CURVE_FORMAT,
        "lr": [1.0, 2.0, 3.0],
        "loss": [None, "inf", "-inf"],
        "raw_loss": [0.5, 1.5, 2.5],
        "num_it": 3,
        "settings": {"beta": 0.98},
    }
    assert c.to_dict() == expected
    assert LossCurve.of([1.0], [2.0]).to_dict() == {"format": CURVE_FORMAT, "lr": [1.0], "loss": [2.0], "num_it": None, "settings": {}}
    for name in ("c.JSON", "c.json"):
        assert json.loads(c.save(tmp_path / name).read_text()) == expected
    back = load_curve(tmp_path / "c.json")
    assert back.losses[1:].tolist() == [math.inf, -math.inf] and math.isnan(back.losses[0])


@pytest.mark.parametrize("name", ["c.NPZ", "c.Csv"])
def test_extensions_are_case_blind_when_saving(tmp_path, name):
    path = LossCurve.of(LRS, LOSSES, [1.0, 1.0, 1.0], 3, {"k": 1}).save(tmp_path / name)
    c = load_curve(path)
    assert (c.lrs.tolist(), c.losses.tolist(), c.raw_losses.tolist(), c.num_it, c.settings) == (LRS, LOSSES, [1.0] * 3, 3, {"k": 1})


def test_of_checks_and_keeps_every_field():
    settings = {"t": (1, 2)}
    c = LossCurve.of([1, 2], (3, None), np.array([5.0, 6.0]), num_it=1, settings=settings, source="here")
    assert (c.lrs.dtype, c.lrs.tolist(), c.raw_losses.tolist(), c.num_it, c.source, len(c)) == (np.float64, [1.0, 2.0], [5.0, 6.0], 1, "here", 2)
    assert c.losses[0] == 3.0 and math.isnan(c.losses[1])
    assert c.settings == {"t": [1, 2]} and c.settings is not settings  # a JSON copy
    assert LossCurve.of([1.0], [2.0]).settings == {} and LossCurve.of([1.0], [2.0]).raw_losses is None


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"lrs": None}, TypeError, "lrs and losses are required; got lrs=None, losses=[2.0, 1.0]"),
        ({"losses": None}, TypeError, "lrs and losses are required; got lrs=[1.0, 2.0], losses=None"),
        ({"lrs": [1.0, "x"]}, ValueError, "'lr' must hold numbers; got [1.0, 'x']"),
        ({"raw_losses": [[1.0, 2.0]]}, ValueError, "'raw_loss' must be 1-D (one curve); got shape (1, 2)"),
        ({"raw_losses": [1.0]}, ValueError, "columns have different lengths: {'lr': 2, 'loss': 2, 'raw_loss': 1}"),
        ({"lrs": [], "losses": []}, ValueError, "the curve has no points"),
        ({"lrs": [1.0, -math.inf]}, ValueError, "lr at point 1 is -inf; lrs must be finite"),
        ({"lrs": [math.nan, 1.0]}, ValueError, "lr at point 0 is nan; lrs must be finite"),
        ({"num_it": 0}, ValueError, "num_it must be an integer >= 1; got 0"),
        ({"num_it": 2.0}, TypeError, "num_it must be an integer; got 2.0"),
        ({"settings": [("a", 1)]}, TypeError, "settings must be a dict; got list"),
        ({"settings": {"x": math.nan}}, ValueError, "settings must be JSON-serialisable ("),
        ({"settings": {"x": {1, 2}}}, ValueError, "settings must be JSON-serialisable ("),
    ],
)
def test_of_errors_exact(kwargs, error, match):
    args = {"lrs": [1.0, 2.0], "losses": [2.0, 1.0], **kwargs}
    with pytest.raises(error) as e:
        LossCurve.of(**args)
    assert str(e.value).startswith(match)


def test_of_accepts_num_it_one_and_tuples():
    assert LossCurve.of((1.0,), (2.0,), num_it=1).num_it == 1


def test_hand_built_curve_with_ragged_columns_is_not_written(tmp_path):
    """LossCurve(...) skips of()'s checks; the CSV writer still refuses to drop points silently."""
    curve = LossCurve(np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(ValueError):
        curve.save(tmp_path / "c.csv")
    assert not (tmp_path / "c.csv").exists()
