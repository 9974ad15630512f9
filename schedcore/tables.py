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
import io
import os
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from ._io import atomic_write
from .annealers import Schedule

__all__ = ["ScheduleTable", "schedule_table", "load_table", "save_table"]

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
        i = k - self.start
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
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1; got {n_steps!r}")
    n_steps = int(n_steps)
    stop = n_steps if stop is None else stop
    if not (0 <= start <= stop <= n_steps) or int(start) != start or int(stop) != stop:
        raise ValueError(
            f"need 0 <= start <= stop <= n_steps; got start={start!r}, stop={stop!r}, n_steps={n_steps}"
        )
    return n_steps, int(start), int(stop)


def schedule_table(
    scheds: Mapping[str, Schedule] | Schedule, n_steps: int, start: int = 0, stop: int | None = None
) -> ScheduleTable:
    """Evaluate each schedule at ``arange(start, stop) / n_steps`` in one vectorised call.

    ``scheds`` is a dict of name -> schedule (as the policies return) or a single schedule,
    which is stored under ``"lr"``. ``start``/``stop`` select a slice of the steps (resuming).

    >>> from schedcore import SchedLin
    >>> t = schedule_table({"lr": SchedLin(0, 1)}, 4, start=2)
    >>> t.steps.tolist(), t["lr"].tolist()
    ([2, 3], [0.5, 0.75])
    """
    if isinstance(scheds, Schedule):
        scheds = {"lr": scheds}
    if not isinstance(scheds, Mapping) or not scheds:
        raise ValueError(f"scheds must be a non-empty dict of name -> Schedule; got {scheds!r}")
    n_steps, start, stop = _check_steps(n_steps, start, stop)
    pos = np.arange(start, stop, dtype=np.float64)
    pos /= n_steps  # a division, so that row k is exactly f(k / n_steps)
    values = {}
    for name, sched in scheds.items():
        if not isinstance(sched, Schedule):
            raise TypeError(f"schedule for {name!r} must be a schedcore Schedule; got {sched!r}")
        values[name] = sched._eval(pos, is_sorted=True)
    return ScheduleTable(values, n_steps, start, pos)


# ---------------------------------------------------------------------------------------- files


def save_table(table: ScheduleTable, path: str | os.PathLike) -> Path:
    """Write ``table`` to ``path`` as ``.npz`` or ``.csv`` (by extension), atomically.

    CSV columns: ``step, pos`` and one column per value (``lr[0], lr[1], ...`` for per-group
    values), written with 17 significant digits so that loading gives the same floats.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".npz":
        arrays = {f"hp.{k}": v for k, v in table.items()}
        meta = np.array([_FORMAT, str(table.n_steps), str(table.start)])

        def write(f):
            np.savez(f, __meta__=meta, **arrays)

        return atomic_write(path, write, mode="wb")
    if ext == ".csv":
        return atomic_write(path, lambda f: f.write(_to_csv(table)))
    raise ValueError(f"{path}: unknown table format {ext!r}; use .npz or .csv")


def _to_csv(table: ScheduleTable) -> str:
    header, cols = ["step", "pos"], [table.steps.astype(np.float64), table.pos]
    for name, v in table.items():
        if v.ndim == 1:
            header.append(name)
            cols.append(v)
        else:
            header += [f"{name}[{g}]" for g in range(v.shape[1])]
            cols += list(v.T)
    buf = io.StringIO()
    buf.write(f"# {_FORMAT} n_steps={table.n_steps}\n")
    buf.write(",".join(header) + "\n")
    if table.rows:
        body = np.column_stack(cols)
        fmt = ["%d"] + ["%.17g"] * (len(cols) - 1)
        np.savetxt(buf, body, fmt=fmt, delimiter=",")
    return buf.getvalue()


def load_table(path: str | os.PathLike) -> ScheduleTable:
    """Load a table written by :func:`save_table`; a malformed file raises ``ValueError``
    naming the file and the problem."""
    path = Path(path)
    ext = path.suffix.lower()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such table file")
    try:
        if ext == ".npz":
            return _load_npz(path)
        if ext == ".csv":
            return _load_csv(path)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    raise ValueError(f"{path}: unknown table format {ext!r}; use .npz or .csv")


def _load_npz(path: Path) -> ScheduleTable:
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"not a readable .npz file ({e})") from None
    meta = data.pop("__meta__", None)
    if meta is None or meta.shape != (3,) or str(meta[0]) != _FORMAT:
        raise ValueError("not a schedcore table (missing or wrong __meta__)")
    values = {k[3:]: v for k, v in data.items() if k.startswith("hp.")}
    return _validated(values, int(meta[1]), int(meta[2]))


def _load_csv(path: Path) -> ScheduleTable:
    lines = path.read_text().splitlines()
    if not lines or not lines[0].startswith(f"# {_FORMAT} n_steps="):
        raise ValueError(f"first line must be '# {_FORMAT} n_steps=N'")
    try:
        n_steps = int(lines[0].split("n_steps=", 1)[1])
    except ValueError:
        raise ValueError(f"bad n_steps in header line {lines[0]!r}") from None
    rows = list(csv.reader(lines[1:]))
    if not rows or rows[0][:2] != ["step", "pos"]:
        raise ValueError("second line must be the column header 'step,pos,...'")
    header, body = rows[0], rows[1:]
    try:
        data = np.array(body, dtype=np.float64).reshape(len(body), len(header))
    except ValueError:
        raise ValueError("rows must be numbers, one per header column") from None
    columns: dict[str, list] = {}
    grouped: dict[str, bool] = {}
    for j, col in enumerate(header[2:], start=2):
        name = col.split("[", 1)[0]
        columns.setdefault(name, []).append(data[:, j])
        grouped[name] = "[" in col
    arrays = {k: np.stack(v, 1) if grouped[k] else v[0] for k, v in columns.items()}
    start = int(data[0, 0]) if len(body) else 0
    if len(body) and not np.array_equal(data[:, 0], np.arange(start, start + len(body))):
        raise ValueError("the step column must count up by one")
    return _validated(arrays, n_steps, start)


def _validated(values: dict, n_steps: int, start: int) -> ScheduleTable:
    _check_steps(n_steps, start, start + _rows(values))
    if not values:
        raise ValueError("the table has no hyper-parameter columns")
    for k, v in values.items():
        if v.dtype.kind != "f" or v.ndim not in (1, 2) or not np.all(np.isfinite(v)):
            raise ValueError(f"column {k!r} must hold finite floats (1-D or 2-D)")
    return ScheduleTable(values, n_steps, start)
