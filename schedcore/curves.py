"""LR-range-test loss curves in files: save one, load one (ours or another tool's), suggest.

A :class:`LossCurve` holds what an LR finder records -- ``lrs``, the smoothed ``losses`` the
suggesters use, optionally the ``raw_losses``, the requested ``num_it`` and free-form
``settings`` (``start_lr``, ``beta``, suggestion methods, ...) -- *untrimmed*: :meth:`LossCurve.suggest`
applies lr_find's trimming (:func:`schedcore.suggest.trim_curve`) itself.

Formats, chosen by the file's extension when saving and sniffed from the content when the
extension is not one of them:

* ``.csv``: columns ``lr,loss[,raw_loss],num_it,settings,points_left`` -- no comment lines, so
  plain readers (``csv``, ``np.genfromtxt(names=True)``, ``pandas.read_csv``) read it as is.
  ``num_it`` is on every row (empty when unknown), ``settings`` is percent-encoded JSON on the
  first row only, and ``points_left`` counts down to 0 on the last row, so a file cut anywhere is
  detected. Readers take any CSV with ``lr`` and ``loss`` columns (other tools' files, and
  older ones with ``# schedcore-curve-v1`` comment lines); other columns are ignored. Floats are
  written with ``repr``, so they load back bit for bit.
* ``.json``: ``{"format": "schedcore-curve-v1", "lr": [...], "loss": [...], "raw_loss": [...],
  "num_it": N, "settings": {...}}``; NaN is written as ``null``, infinities as ``"inf"``.
* ``.npz`` (compressed): arrays ``lr``, ``loss``, optional ``raw_loss`` and a JSON ``__meta__``
  string with ``num_it`` and ``settings`` (never arrays: the arrays always win).
* Other tools' JSON (also as a dict, via :func:`curve_from_dict`): pytorch-lr-finder's
  ``history`` (``{"lr": [...], "loss": [...]}``) and Lightning's finder results (``lr``/``loss``
  under ``"data"``, or a list of ``{"lr": ..., "loss": ...}`` records). ``lrs``/``losses`` are
  accepted for ``lr``/``loss`` everywhere.

Writes are atomic. Only regular files are read (a FIFO or a device is refused), sizes are
checked before reading or decompressing, a UTF-8 byte-order mark is accepted. A malformed or
truncated file raises ``ValueError`` naming the file and what is wrong; a missing one
``FileNotFoundError``.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "lr_find.json"
>>> _ = save_curve(path, [1e-3, 1e-2, 1e-1], [2.0, 1.0, 3.0], num_it=3)
>>> c = load_curve(path)
>>> c.lrs.tolist(), c.losses.tolist(), c.num_it
([0.001, 0.01, 0.1], [2.0, 1.0, 3.0], 3)
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write, open_regular, read_npz, read_text, to_numpy
from .guards import check_int, check_path
from .suggest import SuggestedLRs, suggest_lrs, valley

__all__ = ["LossCurve", "save_curve", "load_curve", "curve_from_dict", "CURVE_FORMAT"]

CURVE_FORMAT = "schedcore-curve-v1"
_ALIASES = {"lr": ("lr", "lrs"), "loss": ("loss", "losses"), "raw_loss": ("raw_loss", "raw_losses")}


@dataclass(frozen=True, eq=False)
class LossCurve:
    """One recorded LR-range-test curve (untrimmed), as :func:`load_curve` returns it.

    >>> c = LossCurve.of([1e-3, 1e-2, 1e-1, 1.0], [3.0, 2.0, 1.0, 4.0])
    >>> len(c), c.suggest(trim=False)
    (4, SuggestedLRs(valley=0.001))
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray | None = None
    num_it: int | None = None
    settings: dict = field(default_factory=dict)
    source: str = ""

    @classmethod
    def of(cls, lrs, losses, raw_losses=None, num_it=None, settings=None, source: str = "") -> LossCurve:
        """Check and convert (lists, arrays, tensors); raises ``ValueError`` naming the problem."""
        if lrs is None or losses is None:
            raise TypeError(f"lrs and losses are required; got lrs={lrs!r}, losses={losses!r}")
        arrays = {"lr": lrs, "loss": losses, "raw_loss": raw_losses}
        arrays = {k: _column(k, v) for k, v in arrays.items() if v is not None}
        _check_columns(arrays)
        return cls(arrays["lr"], arrays["loss"], arrays.get("raw_loss"), _check_num_it(num_it), _check_settings(settings), source)

    def __len__(self) -> int:
        return len(self.lrs)

    def suggest(self, funcs: Sequence[Callable] = (valley,), **kwargs) -> SuggestedLRs:
        """:func:`schedcore.suggest_lrs` on this curve with its ``num_it``."""
        return suggest_lrs(self.lrs, self.losses, self.num_it, funcs, **kwargs)

    def save(self, path: str | os.PathLike) -> Path:
        """Write to ``.csv``, ``.json`` or ``.npz`` (by extension), atomically."""
        return _write(check_path(path), self)

    def to_dict(self) -> dict[str, Any]:
        """Our JSON layout as a dict (NaN -> ``None``, infinities -> ``"inf"``/``"-inf"``)."""
        d: dict[str, Any] = {"format": CURVE_FORMAT, "lr": _json_list(self.lrs), "loss": _json_list(self.losses)}
        if self.raw_losses is not None:
            d["raw_loss"] = _json_list(self.raw_losses)
        return {**d, "num_it": self.num_it, "settings": self.settings}


def save_curve(
    path: str | os.PathLike,
    lrs,
    losses,
    raw_losses=None,
    num_it: int | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Path:
    """Save an LR-range-test curve to ``.csv``, ``.json`` or ``.npz`` (by extension), atomically.

    Parameters
    ----------
    path : str or path-like
        The file; its extension picks the format.
    lrs, losses : array-like of shape (n,)
        Learning rates and the smoothed losses the suggesters use (lists, arrays or tensors);
        NaN/inf losses are kept (a diverged run).
    raw_losses : array-like of shape (n,), optional
        The unsmoothed losses.
    num_it : int, optional
        The number of iterations the test asked for (lr_find's trimming uses it).
    settings : dict, optional
        JSON-serialisable settings (e.g. ``{"start_lr": 1e-7, "beta": 0.98}``).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        Arrays that are not 1-D or of different lengths, a bad ``num_it``, settings that are not
        JSON-serialisable, or an unknown extension.
    TypeError
        An argument of the wrong kind (a string, None, a bool, or a float where an integer is
        needed); the message names it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = save_curve(pathlib.Path(tempfile.mkdtemp()) / "c.csv", [1e-3, 1e-2], [2.0, float("nan")])
    >>> print(p.read_text().strip())
    lr,loss,num_it,settings,points_left
    0.001,2.0,,,1
    0.01,nan,,,0
    """
    return LossCurve.of(lrs, losses, raw_losses, num_it, settings, str(path)).save(path)


def load_curve(path: str | os.PathLike) -> LossCurve:
    """Load a curve from ``.csv``, ``.json`` or ``.npz`` -- ours, pytorch-lr-finder's or Lightning's.

    Parameters
    ----------
    path : str or path-like
        The file; the format follows the extension, or is sniffed from the content.

    Returns
    -------
    LossCurve
        The untrimmed curve, with ``num_it`` and ``settings`` when the file has them.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A malformed file: ``"<path>: <what is wrong>"``.

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "history.json"
    >>> _ = p.write_text(json.dumps({"lr": [1e-3, 1e-2], "loss": [2.0, 1.5]}))
    >>> load_curve(p).losses.tolist()
    [2.0, 1.5]
    """
    path = check_path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such curve file")
    try:
        return {"csv": _read_csv, "json": _read_json, "npz": _read_npz}[_kind(path)](path)
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to be a curve") from None
    except ValueError as e:
        message = str(e)
        raise ValueError(message if message.startswith(f"{path}:") else f"{path}: {message}") from None


def curve_from_dict(data: Mapping | Sequence, source: str = "<dict>") -> LossCurve:
    """A curve from an in-memory dict: ours, pytorch-lr-finder's ``history``, Lightning's results.

    Parameters
    ----------
    data : dict or list of dict
        ``{"lr": [...], "loss": [...]}`` (``lrs``/``losses`` also accepted), the same under
        ``"data"``, or a list of ``{"lr": ..., "loss": ...}`` records.
    source : str, default "<dict>"
        Where the data came from, for error messages.

    Returns
    -------
    LossCurve

    Raises
    ------
    ValueError
        No ``lr`` or ``loss`` column, columns of different lengths, or values that are not numbers.

    Examples
    --------
    >>> curve_from_dict({"data": [{"lr": 0.1, "loss": 2.0}, {"lr": 1.0, "loss": 1.0}]}).lrs.tolist()
    [0.1, 1.0]
    """
    try:
        return _from_dict(data, source)
    except RecursionError:
        raise ValueError(f"{source}: nested too deeply to be a curve") from None
    except ValueError as e:  # name the source, as the file loaders do
        if str(e).startswith(f"{source}:"):
            raise
        raise ValueError(f"{source}: {e}") from None


def _from_dict(data: Mapping | Sequence, source: str) -> LossCurve:
    if isinstance(data, Mapping) and "data" in data and not _has(data, "lr"):
        data = data["data"]
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        data = _records_to_columns(data)
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a dict with 'lr' and 'loss' lists; got {type(data).__name__}")
    columns = {k: _get(data, k) for k in _ALIASES}
    num_it = data.get("num_it")
    if isinstance(num_it, float) and num_it.is_integer():
        num_it = int(num_it)
    return LossCurve.of(columns["lr"], columns["loss"], columns["raw_loss"], num_it, data.get("settings"), source)


# --------------------------------------------------------------------------------- validation


def _column(name: str, values) -> np.ndarray:
    # JSON's null and strings such as "inf", "-Infinity", "NaN" need nothing: numpy's float
    # conversion reads None as NaN and those strings as float() does
    try:
        a = to_numpy(values)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"'{name}' must hold numbers; got {str(values)[:60]}") from None
    if a.ndim != 1:
        raise ValueError(f"'{name}' must be 1-D (one curve); got shape {a.shape}")
    return a


def _check_columns(arrays: dict[str, np.ndarray]) -> None:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns have different lengths: {lengths}")
    if lengths["lr"] == 0:
        raise ValueError("the curve has no points")
    bad = np.flatnonzero(~np.isfinite(arrays["lr"]))
    if bad.size:
        raise ValueError(f"lr at point {bad[0]} is {arrays['lr'][bad[0]]}; lrs must be finite")


def _check_num_it(num_it) -> int | None:
    if num_it is None:
        return None
    return check_int(num_it, "num_it", min=1)


def _check_settings(settings) -> dict:
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a dict; got {type(settings).__name__}")
    try:
        return json.loads(json.dumps(dict(settings), allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"settings must be JSON-serialisable ({e})") from None


def _has(data: Mapping, key: str) -> bool:
    return any(a in data for a in _ALIASES[key])


def _get(data: Mapping, key: str):
    for alias in _ALIASES[key]:
        if alias in data:
            return data[alias]
    if key == "raw_loss":
        return None
    raise ValueError(f"no '{key}' column (found keys {sorted(map(str, data))[:10]})")


def _records_to_columns(records: Sequence) -> dict[str, list]:
    if not all(isinstance(r, Mapping) for r in records):
        raise ValueError("a list must hold {'lr': ..., 'loss': ...} records")
    if not records:
        raise ValueError("the curve has no points")
    try:
        return {k: [_get(r, k) for r in records] for k in ("lr", "loss")}
    except ValueError as e:
        raise ValueError(f"every record needs 'lr' and 'loss': {e}") from None


def _json_list(a: np.ndarray) -> list:
    return [None if math.isnan(v) else (("inf" if v > 0 else "-inf") if math.isinf(v) else v) for v in a.tolist()]


# ------------------------------------------------------------------------------------ formats


def _kind(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    if ext in ("csv", "json", "npz"):
        return ext
    with open_regular(path) as f:
        head = f.read(64).lstrip().removeprefix(b"\xef\xbb\xbf")
    return "npz" if head.startswith(b"PK") else "json" if head[:1] in (b"{", b"[") else "csv"


def _write(path: Path, curve: LossCurve) -> Path:
    ext = path.suffix.lower()
    if ext == ".json":
        return atomic_write(path, lambda f: json.dump(curve.to_dict(), f, allow_nan=False))
    if ext == ".csv":
        return atomic_write(path, lambda f: f.write(_csv_text(curve)))
    if ext == ".npz":
        return atomic_write(path, lambda f: np.savez_compressed(f, **_npz_arrays(curve)), mode="wb")
    raise ValueError(f"{path}: unknown curve format {ext!r}; use .csv, .json or .npz")


_CSV_TRAILER = ["num_it", "settings", "points_left"]


def _csv_text(curve: LossCurve) -> str:
    cols = [curve.lrs, curve.losses] + ([curve.raw_losses] if curve.raw_losses is not None else [])
    names = ["lr", "loss", "raw_loss"][: len(cols)]
    num_it = "" if curve.num_it is None else str(curve.num_it)
    settings = urllib.parse.quote(json.dumps(curve.settings, separators=(",", ":")), safe="") if curve.settings else ""
    buf = io.StringIO()
    buf.write(",".join(names + _CSV_TRAILER) + "\n")
    n = len(curve)
    for i, row in enumerate(zip(*(c.tolist() for c in cols), strict=True)):
        buf.write(f"{','.join(map(repr, row))},{num_it},{settings if i == 0 else ''},{n - 1 - i}\n")
    return buf.getvalue()


def _read_csv(path: Path) -> LossCurve:
    text = read_text(path)
    lines = text.splitlines()
    meta = _csv_meta([ln for ln in lines if ln.startswith("#")])
    rows = list(csv.reader(ln for ln in lines if ln.strip() and not ln.startswith("#")))
    if not rows:
        raise ValueError("no header line with 'lr' and 'loss' columns")
    header = [h.strip() for h in rows[0]]
    if "points_left" in header:
        meta.update(_check_complete(text, header, rows[1:]))
    columns = {}
    for j, name in enumerate(header):
        if any(name in aliases for aliases in _ALIASES.values()):
            columns[name] = [_csv_float(r, j, i + 2) for i, r in enumerate(rows[1:])]
    if not (_has(columns, "lr") and _has(columns, "loss")):
        raise ValueError(f"the header {','.join(header)!r} needs 'lr' and 'loss' columns")
    return curve_from_dict({**columns, **meta}, str(path))


def _check_complete(text: str, header: list[str], body: list[list[str]]) -> dict[str, Any]:
    """Our CSV layout: every line ends in a newline and ``points_left`` counts down to 0."""
    if not text.endswith("\n"):
        raise ValueError(f"the file is truncated: its last line ends early ({text.splitlines()[-1][-40:]!r})")
    if not body:
        raise ValueError("the file is truncated: it has a header but no rows")
    j = header.index("points_left")
    left = [_csv_float(r, j, i + 2) for i, r in enumerate(body)]
    if any(b - a != -1 for a, b in zip(left, left[1:], strict=False)) or left[-1] < 0:
        raise ValueError(f"the points_left column must count down by one to 0; got {left[:3]}")
    if left[-1] != 0:
        raise ValueError(f"the file is truncated: it ends after {len(body)} points, {left[-1]:.0f} points short")
    meta: dict[str, Any] = {}
    first = dict(zip(header, body[0], strict=False))
    if first.get("num_it", "").strip():
        meta["num_it"] = _csv_float(body[0], header.index("num_it"), 2)
    if first.get("settings", "").strip():
        try:
            meta["settings"] = json.loads(urllib.parse.unquote(first["settings"]))
        except json.JSONDecodeError:
            raise ValueError(f"bad settings entry {first['settings'][:60]!r} (not percent-encoded JSON)") from None
    return meta


def _csv_meta(comments: list[str]) -> dict:
    """Metadata from the comment lines of older files (``# schedcore-curve-v1 num_it=N``)."""
    meta: dict[str, Any] = {}
    for line in comments:
        body = line.lstrip("#").strip()
        if body.startswith("settings="):
            try:
                meta["settings"] = json.loads(body[len("settings=") :])
            except json.JSONDecodeError:
                raise ValueError(f"bad settings comment {line!r}") from None
        elif " num_it=" in body:
            try:
                meta["num_it"] = int(body.split(" num_it=", 1)[1])
            except ValueError:
                raise ValueError(f"bad num_it in comment {line!r}") from None
    return meta


def _csv_float(row: list[str], j: int, line: int) -> float:
    try:
        return float(row[j])
    except (IndexError, ValueError):
        raise ValueError(f"data row {line - 1} ({','.join(row)!r}) has no number in column {j + 1}") from None


def _read_json(path: Path) -> LossCurve:
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e})") from None
    return curve_from_dict(data, str(path))


def _npz_arrays(curve: LossCurve) -> dict[str, np.ndarray]:
    meta = json.dumps({"format": CURVE_FORMAT, "num_it": curve.num_it, "settings": curve.settings})
    arrays = {"lr": curve.lrs, "loss": curve.losses, "__meta__": np.array(meta)}
    if curve.raw_losses is not None:
        arrays["raw_loss"] = curve.raw_losses
    return arrays


def _read_npz(path: Path) -> LossCurve:
    data: dict[str, Any] = read_npz(path)
    meta = data.pop("__meta__", None)
    if meta is not None:
        try:
            info = json.loads(str(meta))
        except json.JSONDecodeError:
            raise ValueError("bad __meta__ entry (not JSON)") from None
        if not isinstance(info, Mapping):
            raise ValueError(f"bad __meta__ entry (a JSON {type(info).__name__}, not an object)")
        # metadata only: the arrays in the file always win over anything __meta__ holds
        data.update({k: info[k] for k in ("num_it", "settings") if k in info})
    return curve_from_dict(data, str(path))
