"""Schedule tables: every training step's hyper-parameter values, computed in one call.

Step ``k`` of ``n_steps`` has position ``k / n_steps``: step 0 gets ``f(0)``, the last step
``f((n-1)/n)``; ``f(1)`` is never applied (fastai's convention).

>>> from schedcore import one_cycle
>>> t = schedule_table(one_cycle(1e-2), 4)
>>> t.pos.tolist()
[0.0, 0.25, 0.5, 0.75]
>>> t["lr"].round(5).tolist()
[0.0004, 0.01, 0.0075, 0.0025]
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from ._io import atomic_write, check_fits, read_npz, read_text
from .annealers import Schedule, as_schedule
from .guards import check_int, check_path

__all__ = ["ScheduleTable", "schedule_table", "load_table", "save_table", "table_csv_lines"]

_FORMAT = "schedcore-table-v1"


class ScheduleTable(Mapping):
    """Rows ``start .. stop-1`` of an ``n_steps`` schedule table: a read-only mapping of
    hyper-parameter name -> values, with ``pos`` (the step positions) and ``steps``.

    ``table[name]`` has shape ``(rows,)`` or ``(rows, G)`` for per-group values.
    """

    def __init__(self, values: Mapping[str, np.ndarray], n_steps: int, start: int = 0, pos=None):
        self.n_steps, self.start = int(n_steps), int(start)
        self._values = dict(values)
        self._rows = _rows(self._values)
        self.pos = (np.arange(self.start, self.start + self._rows) / self.n_steps) if pos is None else pos

    @property
    def steps(self) -> np.ndarray:
        """The absolute step numbers ``start .. stop-1``."""
        return np.arange(self.start, self.start + self._rows, dtype=np.int64)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def rows(self) -> int:
        """Number of steps held (``n_steps`` unless the table is a slice)."""
        return self._rows

    def row(self, k: int) -> dict[str, float | np.ndarray]:
        """Values at absolute step ``k`` as ``{name: value}``."""
        i = check_int(k, "k") - self.start
        if not 0 <= i < self.rows:
            raise IndexError(
                f"step {k} is outside this table's steps [{self.start}, {self.start + self.rows})"
            )
        return {n: v[i] for n, v in self._values.items()}

    def save(self, path: str | os.PathLike) -> Path:
        """Save to ``.npz`` or ``.csv`` (by extension), atomically. See :func:`save_table`."""
        return save_table(self, path)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {v.shape}" for k, v in self._values.items())
        return f"ScheduleTable(n_steps={self.n_steps}, start={self.start}, {{{shapes}}})"


def _rows(values: Mapping[str, np.ndarray]) -> int:
    lengths = {len(v) for v in values.values()}
    if len(lengths) > 1:
        raise ValueError(f"table columns have different lengths {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _check_steps(n_steps: int, start: int, stop: int | None) -> tuple[int, int, int]:
    n_steps = check_int(n_steps, "n_steps", min=1)
    start = check_int(start, "start", min=0)
    stop = n_steps if stop is None else check_int(stop, "stop", min=0)
    if not (0 <= start <= stop <= n_steps):
        raise ValueError(
            f"need 0 <= start <= stop <= n_steps; got start={start!r}, stop={stop!r}, n_steps={n_steps}"
        )
    return n_steps, int(start), int(stop)


def schedule_table(
    scheds: Mapping[str, Schedule | Sequence[Schedule]] | Schedule,
    n_steps: int,
    start: int = 0,
    stop: int | None = None,
    dtype: DTypeLike = np.float64,
) -> ScheduleTable:
    """Evaluate each schedule at ``arange(start, stop) / n_steps`` in one vectorised call.

    ``scheds`` is a dict of name -> schedule (as the policies return) or a single schedule,
    which is stored under ``"lr"``. A value may also be a list of schedules, one per parameter
    group: its column has shape ``(rows, G)`` (column ``g`` is schedule ``g``'s; a schedule
    with per-group values of its own must have one value here). ``start``/``stop`` select a
    slice of the steps (resuming). ``dtype`` is ``float64`` or ``float32`` (half the memory,
    and float32 ``cos``/``exp`` are several times faster; the positions ``k/n`` are computed
    in float64, then rounded to float32, so values agree with float64 to a few float32 ulps of
    the column's scale -- except where a schedule is steep at a point, as ``sqrt`` decay at 0).
    A schedule may be any callable of ``pos``: it is evaluated once, on the whole position array
    or, when it only takes floats, position by position (:mod:`schedcore.callables`).

    Parameters
    ----------
    scheds : dict of str to Schedule (or list of Schedule), or a Schedule
        What to evaluate; a single schedule is the ``"lr"`` column.
    n_steps : int
        Number of training steps of the whole run, >= 1 (row ``k`` is ``f(k / n_steps)``).
    start, stop : int, optional
        The steps ``start .. stop-1`` to evaluate (default: all), ``0 <= start <= stop <= n_steps``.
    dtype : float64 or float32, default float64
        The columns' dtype.

    Returns
    -------
    ScheduleTable
        One column per name, shape ``(stop - start,)`` or ``(stop - start, G)``.

    Raises
    ------
    ValueError
        ``n_steps``, ``start`` or ``stop`` out of range, an empty ``scheds``, a dtype other
        than float64/float32, or a table larger than the memory available (the message says
        how much it would need).
    TypeError
        A value that is not a schedule or a callable of ``pos``; ``n_steps``, ``start`` or
        ``stop`` not an integer (``10.0`` and ``True`` are not).

    Examples
    --------
    >>> from schedcore import SchedLin
    >>> t = schedule_table({"lr": SchedLin(0, 1)}, 4, start=2)
    >>> t.steps.tolist(), t["lr"].tolist()
    ([2, 3], [0.5, 0.75])
    >>> t = schedule_table({"lr": [SchedLin(0, 1), SchedLin(0, 2)]}, 2, dtype=np.float32)
    >>> t["lr"].tolist(), t["lr"].dtype
    ([[0.0, 0.0], [0.5, 1.0]], dtype('float32'))
    """
    if isinstance(scheds, Schedule) or (callable(scheds) and not isinstance(scheds, Mapping)):
        scheds = {"lr": scheds}
    if not isinstance(scheds, Mapping):
        raise TypeError(f"scheds must be a schedule or a dict of name -> schedule; got {scheds!r}")
    if not scheds:
        raise ValueError(f"scheds must be a non-empty dict of name -> schedule; got {scheds!r}")
    dtype = _table_dtype(dtype)
    n_steps, start, stop = _check_steps(n_steps, start, stop)
    width = sum(_width(sched) for sched in scheds.values())  # values per step: per-group columns count G
    check_fits((stop - start) * (8 + dtype.itemsize * width),  # positions (float64) + the columns
               f"a table of {stop - start} steps (n_steps={n_steps}, start={start}, stop={stop}) x {width + 1} columns")  # fmt: skip
    pos = np.arange(start, stop, dtype=np.float64)
    pos /= n_steps  # a division, so that row k is exactly f(k / n_steps)
    values = {}
    for name, sched in scheds.items():
        if isinstance(sched, (list, tuple)):
            values[name] = _group_column(name, sched, pos, dtype)
        else:
            values[name] = _column(name, sched, pos, dtype)
    return ScheduleTable(values, n_steps, start, pos)


def _width(sched) -> int:
    """How many values per step a column holds: G for a per-group list or a per-group schedule
    (a plain callable counts 1: its width is known only once it is called)."""
    if isinstance(sched, (list, tuple)):
        return max(len(sched), 1)
    n_groups = getattr(sched, "n_groups", None)
    return n_groups if isinstance(n_groups, int) and n_groups > 0 else 1


def _table_dtype(dtype: DTypeLike) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.float64, np.float32):
        raise ValueError(f"dtype must be float64 or float32; got {dtype!r}")
    return dt


def _column(name: str, sched: Schedule, pos: np.ndarray, dtype: np.dtype) -> np.ndarray:
    sched = as_schedule(sched, f"the schedule for {name!r}")
    if dtype == np.float64:
        return sched._eval(pos, is_sorted=True)
    out = np.empty(pos.shape + ((sched.n_groups,) if sched.n_groups else ()), dtype=dtype)
    return sched._eval(pos.astype(dtype), is_sorted=True, out=out)


def _group_column(name: str, scheds: Sequence[Schedule], pos: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """One schedule per parameter group, stacked as the columns of a ``(rows, G)`` array."""
    if not scheds:
        raise ValueError(f"{name!r}: an empty list of per-group schedules")
    out = np.empty((len(pos), len(scheds)), dtype=dtype)
    for g, sched in enumerate(scheds):
        sched = as_schedule(sched, f"the schedule for {name}[{g}]")
        if sched.n_groups not in (None, 1):
            raise ValueError(
                f"{name!r}: per-group schedule {g} has {sched.n_groups} values per step; "
                "in a per-group list each schedule gives one"
            )
        out[:, g] = _column(f"{name}[{g}]", sched, pos, dtype).reshape(len(pos))
    return out


# ---------------------------------------------------------------------------------------- files
#
# .npz (v2): one array per hyper-parameter under its own name (``lr``), plus ``__meta__`` =
#   [format, n_steps, start]; written compressed. v1 files (``hp.lr`` keys) still load.
# .csv (v2): header ``step,pos,<values...>,n_steps,rows_left`` and one line per step; no comment
#   lines, so plain readers (csv, np.genfromtxt(names=True), pandas.read_csv) read it as is.
#   ``rows_left`` counts down to 0 on the last row and every line ends with a newline, so a
#   file cut anywhere -- mid-row or at a row boundary -- is detected on loading. A table with
#   no rows has nowhere to keep ``n_steps``/``start`` but a ``# schedcore-table-v1 n_steps=N
#   start=S`` line (the v1 layout, which still loads).

_FORMAT_NPZ = "schedcore-table-v2"
_TRAILER = ["n_steps", "rows_left"]
_CSV_CHUNK = 1 << 16  # rows formatted at a time when writing a CSV
_RESERVED = {"step", "pos", *_TRAILER, "__meta__"}


def save_table(table: ScheduleTable, path: str | os.PathLike) -> Path:
    """Write ``table`` to ``path`` as ``.npz`` or ``.csv`` (by extension), atomically.

    ``.npz``: compressed, one array per hyper-parameter under its name, and ``__meta__``.
    ``.csv``: columns ``step, pos``, one column per value (``lr[0], lr[1], ...`` for per-group
    values), then ``n_steps`` and ``rows_left`` (from which a truncated file is detected).
    Numbers are written with the shortest repr that reads back as the same float.

    Parameters
    ----------
    table : ScheduleTable
        The table to write (a whole run or a slice of one).
    path : str or path-like
        The file; its extension (``.npz`` or ``.csv``) picks the format.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        An extension other than ``.npz`` or ``.csv``, or a hyper-parameter named like one of
        the format's own columns (``step``, ``pos``, ``n_steps``, ``rows_left``, ``__meta__``).
    OSError
        The file cannot be written (the old file, if any, is left as it was).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from schedcore import SchedLin
    >>> p = save_table(schedule_table(SchedLin(0, 1), 4, stop=2), pathlib.Path(tempfile.mkdtemp()) / "t.csv")
    >>> print(p.read_text().strip())
    step,pos,lr,n_steps,rows_left
    0,0.0,0.0,4,1
    1,0.25,0.25,4,0
    """
    if not isinstance(table, ScheduleTable):
        raise TypeError(f"table must be a ScheduleTable (see schedule_table); got {type(table).__name__}")
    path = check_path(path)
    ext = path.suffix.lower()
    clash = _RESERVED.intersection(table)
    if clash:
        raise ValueError(f"{path}: hyper-parameter names {sorted(clash)} are reserved by the file format")
    if ext == ".npz":
        meta = np.array([_FORMAT_NPZ, str(table.n_steps), str(table.start)])
        arrays = {k: np.asarray(v) for k, v in table.items()}
        return atomic_write(path, lambda f: np.savez_compressed(f, __meta__=meta, **arrays), mode="wb")
    if ext == ".csv":
        return atomic_write(path, lambda f: f.writelines(_csv_lines(table)))
    raise ValueError(f"{path}: unknown table format {ext!r}; use .npz or .csv")


def _shortest(column: np.ndarray) -> list[str]:
    """The shortest text of each value that reads back (as a float64) as the same number.

    float32 values are written as their exact float64 widening, so a float32 table loads back
    with equal values (as float64: a CSV does not say which width it was)."""
    return list(map(repr, column.tolist()))  # tolist() widens float32 exactly


def table_csv_lines(table: ScheduleTable) -> Iterator[str]:
    """The lines of ``table`` as :func:`save_table` writes them to a ``.csv`` file, lazily.

    Rows are formatted in chunks, so a large table can be streamed (to stdout, a socket, a
    compressed file) without ever holding the whole text.

    Parameters
    ----------
    table : ScheduleTable
        The table to format.

    Returns
    -------
    iterator of str
        The header line, then one line per row, each ending in a newline.

    Raises
    ------
    TypeError
        ``table`` is not a :class:`ScheduleTable`.

    Examples
    --------
    >>> from schedcore import SchedLin
    >>> print("".join(table_csv_lines(schedule_table(SchedLin(0, 1), 2))), end="")
    step,pos,lr,n_steps,rows_left
    0,0.0,0.0,2,1
    1,0.5,0.5,2,0
    """
    if not isinstance(table, ScheduleTable):
        raise TypeError(f"table must be a ScheduleTable (see schedule_table); got {type(table).__name__}")
    return _csv_lines(table)


def _csv_lines(table: ScheduleTable) -> Iterator[str]:
    header, cols = ["step", "pos"], [table.steps, table.pos]
    for name, v in table.items():
        if v.ndim == 1:
            header.append(name)
            cols.append(v)
        else:
            header += [f"{name}[{g}]" for g in range(v.shape[1])]
            cols += list(v.T)
    if not table.rows:
        yield f"# {_FORMAT} n_steps={table.n_steps} start={table.start}\n"
        yield ",".join(header) + "\n"
        return
    yield ",".join(header + _TRAILER) + "\n"
    n, steps = str(table.n_steps), table.steps
    for a in range(0, table.rows, _CSV_CHUNK):  # in chunks: the text never holds the whole table
        b = min(a + _CSV_CHUNK, table.rows)
        text = [list(map(str, steps[a:b].tolist()))] + [_shortest(np.asarray(c[a:b])) for c in cols[1:]]
        left = range(table.rows - 1 - a, table.rows - 1 - b, -1)
        yield "".join(f"{','.join(row)},{n},{k}\n" for k, row in zip(left, zip(*text, strict=True), strict=True))


def load_table(path: str | os.PathLike) -> ScheduleTable:
    """Load a table written by :func:`save_table` (this version's files or older ones).

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` or ``.csv`` table file (regular files only).

    Returns
    -------
    ScheduleTable

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A malformed, truncated or too large file, or another extension; the message names the
        file and the problem.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from schedcore import SchedLin
    >>> p = save_table(schedule_table(SchedLin(0, 1), 4), pathlib.Path(tempfile.mkdtemp()) / "t.csv")
    >>> load_table(p)["lr"].tolist()
    [0.0, 0.25, 0.5, 0.75]
    >>> p.write_text(p.read_text()[:-3])  # cut off the end of the last line
    87
    >>> load_table(p)
    Traceback (most recent call last):
    ...
    ValueError: ...t.csv: the file is truncated: its last line ends early ...
    """
    path = check_path(path)
    ext = path.suffix.lower()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such table file")
    if ext not in (".npz", ".csv"):
        raise ValueError(f"{path}: unknown table format {ext!r}; use .npz or .csv")
    try:
        return _load_npz(path) if ext == ".npz" else _load_csv(path)
    except ValueError as e:
        message = str(e)
        raise ValueError(message if message.startswith(f"{path}:") else f"{path}: {message}") from None


def _load_npz(path: Path) -> ScheduleTable:
    data = read_npz(path)
    meta = data.pop("__meta__", None)
    if meta is None or meta.shape != (3,) or str(meta[0]) not in (_FORMAT, _FORMAT_NPZ):
        raise ValueError("not a schedcore table (missing or wrong __meta__)")
    if str(meta[0]) == _FORMAT:  # v1: hp.<name> keys
        data = {k[3:]: v for k, v in data.items() if k.startswith("hp.")}
    return _validated(data, _meta_int(meta[1], "n_steps"), _meta_int(meta[2], "start"))


def _meta_int(text, name: str) -> int:
    try:
        return int(str(text))
    except ValueError:
        raise ValueError(f"bad {name} {str(text)!r} in __meta__") from None


def _load_csv(path: Path) -> ScheduleTable:
    text = read_text(path)
    lines = text.splitlines()
    if lines and lines[0].startswith("#"):
        return _load_csv_v1(lines)
    rows = list(csv.reader(lines))
    if not rows or rows[0][:2] != ["step", "pos"] or rows[0][-2:] != _TRAILER:
        raise ValueError(f"the first line must be the column header 'step,pos,...,{','.join(_TRAILER)}' "
                         f"(or '# {_FORMAT} n_steps=N' in older files)")  # fmt: skip
    if not text.endswith("\n"):
        raise ValueError(f"the file is truncated: its last line ends early ({lines[-1][-40:]!r})")
    header, body = rows[0], rows[1:]
    if not body:
        raise ValueError("the file is truncated: it has a header but no rows")
    data = _numbers(header, body)
    left, n_steps = data[:, -1], data[:, -2]
    if np.any(np.diff(left) != -1) or left[-1] < 0:
        raise ValueError(f"the rows_left column must count down by one to 0; got {_preview(left)}")
    if left[-1] != 0:
        raise ValueError(f"the file is truncated: it ends after {len(body)} rows, {int(left[-1])} rows short")
    if not np.all(n_steps == n_steps[0]):
        raise ValueError("the n_steps column must hold one value")
    return _from_columns(header[:-2], data[:, :-2], n_steps[0])


def _preview(a: np.ndarray) -> str:
    return ", ".join(map(repr, a[:3].tolist())) + (", ..." if len(a) > 3 else "")


def _load_csv_v1(lines: list[str]) -> ScheduleTable:
    """The v1 layout: ``# schedcore-table-v1 n_steps=N [start=S]``, then ``step,pos,...``."""
    fields = dict(f.split("=", 1) for f in lines[0][1:].split()[1:] if "=" in f)
    if not lines[0].startswith(f"# {_FORMAT} n_steps="):
        raise ValueError(f"first line must be '# {_FORMAT} n_steps=N'")
    try:
        n_steps, start = int(fields["n_steps"]), int(fields.get("start", 0))
    except ValueError:
        raise ValueError(f"bad n_steps in header line {lines[0]!r}") from None
    rows = list(csv.reader(lines[1:]))
    if not rows or rows[0][:2] != ["step", "pos"]:
        raise ValueError("second line must be the column header 'step,pos,...'")
    return _from_columns(rows[0], _numbers(rows[0], rows[1:]), n_steps, start)


def _numbers(header: list[str], body: list[list[str]]) -> np.ndarray:
    widths = {len(r) for r in body}
    if widths - {len(header)}:
        i = next(i for i, r in enumerate(body) if len(r) != len(header))
        raise ValueError(f"row {i + 1} has {len(body[i])} fields for {len(header)} columns")
    try:
        return np.array(body, dtype=np.float64).reshape(len(body), len(header))
    except ValueError:
        raise ValueError("rows must be numbers, one per header column") from None


def _from_columns(header: list[str], data: np.ndarray, n_steps, start: int | None = None) -> ScheduleTable:
    """Columns ``step, pos, name | name[g] ...`` -> a table (groups put in index order)."""
    columns: dict[str, dict[int | None, np.ndarray]] = {}
    for j, col in enumerate(header[2:], start=2):
        name, group = _column_name(col)
        seen = columns.setdefault(name, {})
        if group in seen or (seen and (None in seen) != (group is None)):
            raise ValueError(f"column {col!r} repeats or mixes with another {name!r} column")
        columns[name][group] = data[:, j]
    arrays = {}
    for name, groups in columns.items():
        if None in groups:
            arrays[name] = groups[None]
            continue
        if sorted(groups) != list(range(len(groups))):
            raise ValueError(f"the {name!r} columns must be {name}[0] .. {name}[{len(groups) - 1}]; got groups {sorted(groups)}")
        # one group is one value per step: 1-D, like any single-value column
        arrays[name] = groups[0] if len(groups) == 1 else np.stack([groups[g] for g in range(len(groups))], 1)
    if len(data):
        if int(data[0, 0]) != data[0, 0]:
            raise ValueError(f"the step column must hold integers; got {float(data[0, 0])!r}")
        start = int(data[0, 0])  # the rows say where they start (a v1 header's start= is for empty tables)
        if not np.array_equal(data[:, 0], np.arange(start, start + len(data))):
            raise ValueError("the step column must count up by one")
    if float(n_steps) != int(n_steps):
        raise ValueError(f"n_steps must be an integer; got {float(n_steps)!r}")
    return _validated(arrays, int(n_steps), start)


def _column_name(col: str) -> tuple[str, int | None]:
    m = re.fullmatch(r"(.+)\[(\d+)\]", col)
    return (m.group(1), int(m.group(2))) if m else (col, None)


def _validated(values: dict, n_steps: int, start: int) -> ScheduleTable:
    _check_steps(n_steps, start, start + _rows(values))
    if not values:
        raise ValueError("the table has no hyper-parameter columns")
    for k, v in values.items():
        if v.dtype.kind != "f" or v.ndim not in (1, 2) or not np.all(np.isfinite(v)):
            raise ValueError(f"column {k!r} must hold finite floats (1-D or 2-D)")
    return ScheduleTable(values, n_steps, start)
