"""Uniform hyper-parameter names <-> torch optimizer ``param_groups``.

Names (fastai's): ``lr``; ``mom`` (SGD/RMSprop ``momentum``, Adam/AdamW ``betas[0]``);
``sqr_mom`` (``betas[1]``, RMSprop ``alpha``); ``wd`` (``weight_decay``); ``eps``. They work
for any optimizer whose param_groups use those torch keys; a raw torch key present in the
param_groups (``"momentum"``, ``"alpha"``, ...) is accepted too.

>>> import torch
>>> opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.1)
>>> set_hyper(opt, "mom", 0.8)
>>> get_hyper(opt, "mom"), opt.param_groups[0]["betas"]
([0.8], (0.8, 0.999))
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import torch

from schedcore import group_values
from schedcore.guards import check_values

__all__ = [
    "HYPER_NAMES",
    "TableWriter",
    "adamw",
    "get_hyper",
    "has_hyper",
    "hyper_setter",
    "set_hyper",
    "tensor_hypers",
]

# uniform name -> candidate (torch key, index in a tuple value or None), first match wins
_CANDIDATES: dict[str, tuple[tuple[str, int | None], ...]] = {
    "lr": (("lr", None),),
    "mom": (("betas", 0), ("momentum", None)),
    "sqr_mom": (("betas", 1), ("alpha", None)),
    "wd": (("weight_decay", None),),
    "eps": (("eps", None),),
}
HYPER_NAMES = tuple(_CANDIDATES)


def _resolve(opt: torch.optim.Optimizer, name: str) -> tuple[str, int | None] | None:
    """The (key, tuple index) that ``name`` means for ``opt``, or None if it has none."""
    group = opt.param_groups[0]
    for key, idx in _CANDIDATES.get(name, ()):
        if key in group:
            return key, idx
    if name not in _CANDIDATES and name in group and name != "params":
        return name, None
    return None


def _group_keys(opt: torch.optim.Optimizer) -> list[str]:
    """The hyper-parameter keys of ``opt``'s param groups (for error messages)."""
    return sorted(k for k in opt.param_groups[0] if k != "params")


def _resolve_or_raise(opt: torch.optim.Optimizer, name: str) -> tuple[str, int | None]:
    found = _resolve(opt, name)
    if found is None:
        keys = _group_keys(opt)
        raise ValueError(
            f"{type(opt).__name__} has no hyper-parameter {name!r}: its param_groups have keys {keys} "
            f"(uniform names: {', '.join(HYPER_NAMES)})"
        )
    return found


def has_hyper(opt: torch.optim.Optimizer, name: str) -> bool:
    """Whether ``opt``'s param_groups hold the hyper-parameter ``name``.

    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> has_hyper(opt, "mom"), has_hyper(opt, "sqr_mom")
    (True, False)
    """
    return _resolve(opt, name) is not None


def _as_float(v) -> float:
    return v.item() if isinstance(v, torch.Tensor) else float(v)


def get_hyper(opt: torch.optim.Optimizer, name: str) -> list[float]:
    """Current value of ``name`` in each parameter group, as floats.

    >>> opt = torch.optim.RMSprop([torch.zeros(1, requires_grad=True)], lr=0.1, alpha=0.9)
    >>> get_hyper(opt, "sqr_mom"), get_hyper(opt, "lr")
    ([0.9], [0.1])
    """
    key, idx = _resolve_or_raise(opt, name)
    if idx is None:
        return [_as_float(g[key]) for g in opt.param_groups]
    return [_as_float(g[key][idx]) for g in opt.param_groups]


def _per_group(value, n_groups: int, name: str) -> list[float]:
    """A value for each of ``n_groups`` groups from a scalar, sequence, array or slice."""
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        return [float(value)] * n_groups
    if isinstance(value, slice):
        return group_values(value, n_groups).tolist()
    if isinstance(value, (list, tuple, np.ndarray, torch.Tensor)):
        values = value.tolist() if hasattr(value, "tolist") else list(value)
        if not isinstance(values, list):  # 0-d array or tensor
            return [float(values)] * n_groups
        if len(values) != n_groups:
            raise ValueError(f"{name}: got {len(values)} values for {n_groups} parameter groups ({value!r})")
        return values
    if isinstance(value, np.number):
        return [float(value)] * n_groups
    raise TypeError(
        f"{name} must be a number, a sequence/array of per-group numbers or a slice; got {value!r}"
    )


def _put(group: dict, key: str, idx: int | None, v) -> None:
    """Write ``v`` (a float, or a 0-d tensor) into ``group[key]`` (element ``idx`` of a tuple).

    A tensor hyper-parameter is written in place (``fill_``/``copy_``): its identity never
    changes, so a compiled optimizer step keeps its graph and a device tensor needs no sync.
    """
    old = group[key] if idx is None else group[key][idx]
    if isinstance(old, torch.Tensor):
        if isinstance(v, torch.Tensor):
            old.copy_(v)
        else:
            old.fill_(v)
        return
    v = v.item() if isinstance(v, torch.Tensor) else v  # a float hyper-parameter: a host value
    if idx is None:
        group[key] = v
    else:
        items = list(group[key])
        items[idx] = v
        group[key] = tuple(items)


def set_hyper(opt: torch.optim.Optimizer, name: str, value) -> None:
    """Set ``name`` in every parameter group from a scalar, per-group sequence/array or ``slice``.

    Cheap enough to call every step. A tensor-valued hyper-parameter (e.g. a learning rate
    placed on the GPU) is filled in place. ``slice`` values follow :func:`schedcore.group_values`.

    >>> p1, p2 = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    >>> opt = torch.optim.SGD([{"params": [p1]}, {"params": [p2]}], lr=0.1, momentum=0.9)
    >>> set_hyper(opt, "lr", slice(1e-3))
    >>> get_hyper(opt, "lr")
    [0.0001, 0.001]
    >>> set_hyper(opt, "mom", [0.8, 0.7]); get_hyper(opt, "mom")
    [0.8, 0.7]
    >>> set_hyper(opt, "lr", float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: value for 'lr' must be a finite number >= 0; got nan
    """
    if not isinstance(value, slice):
        check_values(value, f"value for {name!r}", min=0.0 if name == "lr" else None)
    hyper_setter(opt, name)(value)


class _HyperSetter:
    """``setter(value)``: :func:`set_hyper` with ``name`` resolved once (a picklable object)."""

    def __init__(self, opt: torch.optim.Optimizer, name: str):
        self.opt, self.name = opt, name
        self.key, self.idx = _resolve_or_raise(opt, name)

    def __call__(self, value) -> None:
        # Look the groups up on every call: ``opt.load_state_dict`` replaces the list.
        groups = self.opt.param_groups
        for g, v in zip(groups, _per_group(value, len(groups), self.name), strict=True):
            _put(g, self.key, self.idx, v)


def hyper_setter(opt: torch.optim.Optimizer, name: str) -> Callable[[object], None]:
    """Resolve ``name`` once and return a ``setter(value)`` (same values as :func:`set_hyper`).

    >>> opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    >>> set_sqr_mom = hyper_setter(opt, "sqr_mom")
    >>> set_sqr_mom(0.95); opt.param_groups[0]["betas"]
    (0.9, 0.95)
    """
    return _HyperSetter(opt, name)


def tensor_hypers(
    opt: torch.optim.Optimizer, names: Iterable[str] = ("lr", "mom", "sqr_mom"), device=None
) -> torch.optim.Optimizer:
    """Make the hyper-parameters ``names`` 0-d float tensors in every parameter group, in place.

    What a compiled optimizer step needs: torch specialises a compiled step on Python floats,
    so a float written every step recompiles it (8 times, then eager); a tensor written in place
    by :class:`TableWriter` keeps one graph for a whole fit. ``device`` defaults to the CPU for
    ``lr`` (as torch's own optimizers want unless they are ``capturable``/``fused``) and to the
    first parameter's device otherwise; ``betas`` become a tuple of two tensors. Names the
    optimizer lacks are skipped; values that are tensors already are kept. Returns ``opt``.

    >>> opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> g = tensor_hypers(opt).param_groups[0]
    >>> g["lr"], g["betas"]
    (tensor(0.1000), (tensor(0.9000), tensor(0.9990)))
    """
    for name in names:
        found = _resolve(opt, name)
        if found is None:
            continue
        key, idx = found
        for g in opt.param_groups:
            dev = device if device is not None else _hyper_device(g)
            if idx is None:
                if not isinstance(g[key], torch.Tensor):
                    g[key] = torch.tensor(float(g[key]), dtype=torch.float32, device=dev)
            else:
                g[key] = tuple(
                    v if isinstance(v, torch.Tensor) else torch.tensor(float(v), dtype=torch.float32, device=dev)
                    for v in g[key]
                )
    return opt


def _hyper_device(group: dict) -> torch.device:
    """Where torch's optimizers want a tensor hyper-parameter: beside the parameters when the
    group is ``capturable`` or ``fused``, else on the CPU."""
    if group.get("capturable") or group.get("fused"):
        return group["params"][0].device
    return torch.device("cpu")


# ------------------------------------------------------------------------ the table writer
class TableWriter:
    """The one writer of schedule table rows into an optimizer's ``param_groups``.

    ``columns`` maps uniform hyper-parameter names (``lr``, ``mom``, ``sqr_mom``, ``wd``,
    ``eps`` or a raw torch key) to a column of ``rows`` values: shape ``(rows,)`` (one value
    for every group) or ``(rows, G)`` (one per group; ``G`` must be the optimizer's group
    count). Columns are numpy arrays (any float dtype) or torch tensors (e.g. on the GPU).
    Checked once, here: every name is a hyper-parameter of ``opt``, the widths, equal lengths,
    finite values. :meth:`write` puts row ``k`` into every group: float hyper-parameters are
    assigned, tensor ones (``lr``, ``betas``, ... made tensors by :func:`tensor_hypers`) are
    written in place, so a compiled optimizer step sees one graph for a whole run, and a
    device-resident table (:meth:`to`) is applied with device-side ops and no host sync.
    ``mom`` goes to ``betas[0]`` (Adam, AdamW) or ``momentum`` (SGD, RMSprop), ``sqr_mom`` to
    ``betas[1]`` or RMSprop's ``alpha``. The writer holds no closures: it pickles.

    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0, momentum=0.9)
    >>> w = TableWriter(opt, {"lr": np.array([0.1, 0.2]), "mom": np.array([0.9, 0.8])})
    >>> w.write(1); opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]
    (0.2, 0.8)
    >>> w.fingerprint(n_steps=2) == TableWriter(opt, {"mom": np.array([0.9, 0.8]), "lr": np.array([0.1, 0.2])}).fingerprint(2)
    True
    """

    def __init__(self, opt: torch.optim.Optimizer, columns: Mapping[str, object]):
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(f"opt must be a torch.optim.Optimizer; got {type(opt).__name__}")
        if not isinstance(columns, Mapping) or not columns:
            raise ValueError(f"columns must be a non-empty dict of name -> column; got {columns!r}")
        self.opt, self.n_groups = opt, len(opt.param_groups)
        self.columns = {name: _checked_column(name, col, self.n_groups) for name, col in columns.items()}
        lengths = {name: len(col) for name, col in self.columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"table columns have different lengths: {lengths}")
        self.rows = next(iter(lengths.values()))
        #: the columns as given (numpy, or tensors): what :meth:`values` and :meth:`fingerprint`
        #: read, so that neither touches a device table (no sync) and :meth:`to` changes neither
        self.host_columns = dict(self.columns)
        self._targets = [(name, *_scheduled_hyper(opt, name, self.columns)) for name in self.columns]
        self._plan_writes()

    def _plan_writes(self) -> None:
        # What write() does per column, worked out once: (column, view, key, idx). ``view`` is a
        # memoryview of a 1-D float64/float32 numpy column written to a whole hyper-parameter (the
        # per-step case): indexing it gives a Python float, faster than ``ndarray.item``. None
        # otherwise (per-group columns, tuple entries, float16, tensors): the general path.
        self._plan = []
        for name, key, idx in self._targets:
            col = self.columns[name]
            plain = isinstance(col, np.ndarray) and col.ndim == 1 and idx is None and col.dtype.isnative
            view = memoryview(col) if plain and col.dtype in (np.float64, np.float32) else None
            self._plan.append((col, view, key, idx))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["_plan"]  # memoryviews do not pickle; rebuilt on load
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._plan_writes()

    def write(self, k) -> None:
        """Write row ``k`` (an int; or a 0-d integer tensor on the table's device, for CUDA
        graphs) into every parameter group.

        >>> opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
        >>> TableWriter(opt, {"sqr_mom": np.array([0.9, 0.95])}).write(1); opt.param_groups[0]["betas"]
        (0.9, 0.95)
        """
        groups = self.opt.param_groups  # looked up each time: opt.load_state_dict replaces it
        if len(groups) != self.n_groups:
            self.check_groups()
        for col, view, key, idx in self._plan:
            if view is not None and type(groups[0][key]) is float:  # the per-step case
                v = view[k]
                for g in groups:
                    g[key] = v
            elif isinstance(col, np.ndarray):
                if col.ndim == 1:
                    v = col.item(k)
                    for g in groups:
                        _put(g, key, idx, v)
                else:
                    for i, g in enumerate(groups):
                        _put(g, key, idx, col.item(k, i))
            else:
                row = col[k] if not isinstance(k, torch.Tensor) else col.index_select(0, k.reshape(1))[0]
                for i, g in enumerate(groups):
                    _put(g, key, idx, row if row.ndim == 0 else row[i])

    def check_groups(self) -> list[dict]:
        """The optimizer's ``param_groups``; ``ValueError`` if their count changed since the table was made."""
        groups = self.opt.param_groups
        if len(groups) != self.n_groups:
            raise ValueError(
                f"the optimizer has {len(groups)} parameter groups but this scheduler was built for "
                f"{self.n_groups}; build a new scheduler after add_param_group"
            )
        return groups

    def values(self, name: str, k: int) -> list[float]:
        """Row ``k`` of column ``name`` as one float per parameter group.

        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> TableWriter(opt, {"lr": np.array([0.5, 0.25])}).values("lr", 1)
        [0.25]
        """
        v = self.host_columns[name][k]
        v = v.tolist() if hasattr(v, "tolist") else v
        return v if isinstance(v, list) else [float(v)] * self.n_groups

    def to(self, device=None, dtype=None) -> TableWriter:
        """Move the table to ``device`` as torch tensors (``dtype`` defaults to float32), in place.

        On CUDA, make the optimizer's hyper-parameters tensors on that device too
        (``tensor_hypers(opt, device=...)`` with a ``capturable`` optimizer): then :meth:`write`
        is device-side copies only. :meth:`values` (a ``TableScheduler``'s ``get_lr``) and
        :meth:`fingerprint` keep reading the table as it was given: they never synchronise with
        the device, and moving a table does not change its fingerprint.

        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=torch.tensor(1.0))
        >>> w = TableWriter(opt, {"lr": np.array([0.5, 0.25])}).to("cpu"); w.write(1); opt.param_groups[0]["lr"]
        tensor(0.2500)
        """
        dtype = torch.float32 if dtype is None else dtype
        self.columns = {n: torch.as_tensor(c, dtype=dtype, device=device) for n, c in self.columns.items()}
        self._plan_writes()
        return self

    def fingerprint(self, n_steps: int | None = None) -> str:
        """A hash of the column names, shapes and values (float64), and ``n_steps``: equal tables,
        equal fingerprints (checkpoint checks, rank agreement).
        """
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{self.rows if n_steps is None else n_steps}".encode())
        for name in sorted(self.host_columns):
            col = self.host_columns[name]
            col = col.detach().cpu().numpy() if isinstance(col, torch.Tensor) else col
            v = np.ascontiguousarray(col, dtype=np.float64)
            h.update(f"|{name}{v.shape}|".encode())
            h.update(v.tobytes())
        return h.hexdigest()


def _scheduled_hyper(opt: torch.optim.Optimizer, name: str, columns: Mapping) -> tuple[str, int | None]:
    found = _resolve(opt, name)
    if found is None:
        keys = _group_keys(opt)
        raise ValueError(
            f"a schedule for {name!r} was given but {type(opt).__name__} has no such hyper-parameter "
            f"(scheduled: {sorted(columns)}; its param_groups have keys {keys})"
        )
    return found


def _checked_column(name: str, col, n_groups: int):
    """``col`` as a numpy array (or a tensor, kept), 1-D or ``(rows, n_groups)``, all finite."""
    if not isinstance(col, torch.Tensor):
        col = np.asarray(col)
        if col.dtype.kind not in "fiu":
            raise TypeError(f"{name!r}: the table column must hold numbers; got dtype {col.dtype}")
        if col.dtype.kind != "f":
            col = col.astype(np.float64)
    if col.ndim not in (1, 2) or (col.ndim == 2 and col.shape[1] != n_groups):
        raise ValueError(
            f"{name!r} has values for {tuple(col.shape[1:])} groups but the optimizer has {n_groups} "
            f"parameter groups (give one value per step, or one per group)"
        )
    finite = torch.isfinite(col) if isinstance(col, torch.Tensor) else np.isfinite(col)
    if not bool(finite.all()):
        rows = finite.reshape(len(col), -1).all(1)
        bad = int(rows.to(torch.uint8).argmin()) if isinstance(rows, torch.Tensor) else int(np.argmin(rows))
        raise ValueError(f"{name!r} has non-finite values (first at row {bad})")
    if name == "lr" and bool((col < 0).any()):  # a learning rate is >= 0
        rows = (col < 0).reshape(len(col), -1).any(1)
        bad = int(rows.to(torch.uint8).argmax()) if isinstance(rows, torch.Tensor) else int(np.argmax(rows))
        raise ValueError(f"'lr' has negative values (first at row {bad})")
    return col


def adamw(
    params: Iterable,
    lr: float = 1e-3,
    mom: float = 0.9,
    sqr_mom: float = 0.99,
    eps: float = 1e-5,
    wd: float = 0.01,
    **kwargs,
) -> torch.optim.AdamW:
    """The default ``opt_func``: ``torch.optim.AdamW`` with fastai's defaults.

    betas ``(mom, sqr_mom) = (0.9, 0.99)``, eps ``1e-5``, decoupled weight decay ``0.01``.

    >>> opt = adamw([torch.zeros(1, requires_grad=True)], lr=1e-2)
    >>> g = opt.param_groups[0]; g["betas"], g["eps"], g["weight_decay"]
    ((0.9, 0.99), 1e-05, 0.01)
    """
    return torch.optim.AdamW(params, lr=lr, betas=(mom, sqr_mom), eps=eps, weight_decay=wd, **kwargs)
