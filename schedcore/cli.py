"""The ``schedcore`` command (also ``python -m schedcore``): suggest, table, plot.

    schedcore suggest CURVE... [--methods valley,slide,minimum,steep] [--num-it N] [--plot out.png] [--json]
    schedcore table POLICY --steps N [policy options] -o out.npz|out.csv
    schedcore plot POLICY --steps N [policy options] -o out.png

Bad arguments exit with status 2 and a one-line reason; unreadable or missing files with 1.

>>> main(["table", "one_cycle", "--steps", "10", "--lr-max", "1e-2", "-o", "table.txt"])
Traceback (most recent call last):
...
SystemExit: 2
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import __version__
from .curves import load_curve
from .policies import POLICIES, get_policy
from .suggest import SuggestionWarning, diagnose, minimum, slide, steep, suggest_lrs, trim_curve, valley
from .tables import save_table, schedule_table

__all__ = ["main"]

METHODS = {"valley": valley, "slide": slide, "minimum": minimum, "steep": steep}

SUGGEST_EXAMPLE = """example:
  schedcore suggest lr_find.csv other_run.json --methods valley,minimum --plot lr_find.png
  schedcore suggest history.json --json     # pytorch-lr-finder / Lightning files work too"""
TABLE_EXAMPLE = """example:
  schedcore table one_cycle --steps 1000 --lr-max 1e-3 -o one_cycle.npz
  schedcore table sgdr --steps 700 --n-cycles 3 --cycle-len 1 --lr-max 0.1 -o sgdr.csv
  schedcore table one_cycle --help          # the policy's options"""
PLOT_EXAMPLE = """example:
  schedcore plot one_cycle --steps 1000 --lr-max 1e-3 -o one_cycle.png
  schedcore plot wsd --steps 1000 --lr-max 1e-3 --warmup-pct 0.05 --decay-pct 0.2 -o wsd.png"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (plus a hint), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``schedcore`` command line; returns 0 (errors exit via ``SystemExit``).

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "flat.csv"
    >>> main(["table", "flat_cos", "--steps", "4", "--lr", "1", "-o", str(out)])
    wrote ... (flat_cos, 4 steps: lr)
    0
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args, args.parser)
    except FileNotFoundError as e:
        _fail(f"{e.filename or ''}: no such file" if e.filename else str(e))
    except (ValueError, OSError) as e:
        _fail(str(e))
    return 1


def _fail(message: str):
    print(f"schedcore: error: {message}", file=sys.stderr)
    raise SystemExit(1)


def _build_parser() -> _Parser:
    parser = _Parser(prog="schedcore", description="Hyper-parameter schedules and learning-rate suggestions.")
    parser.add_argument("--version", action="version", version=f"schedcore {__version__}")
    sub = parser.add_subparsers(title="commands", required=True, metavar="{suggest,table,plot}")
    _add_suggest(sub)
    for name, example, run in (("table", TABLE_EXAMPLE, _run_table), ("plot", PLOT_EXAMPLE, _run_plot)):
        what = "write a schedule table (.npz/.csv)" if name == "table" else "plot a schedule (.png/.pdf/.svg)"
        p = sub.add_parser(name, help=what, description=what + ".", epilog=example, formatter_class=argparse.RawDescriptionHelpFormatter)
        policies = p.add_subparsers(title="policies", required=True, metavar="POLICY", dest="policy")
        for policy in POLICIES:
            _add_policy(policies, policy, name, run, example)
    return parser


def _add_suggest(sub) -> None:
    p = sub.add_parser(
        "suggest",
        help="suggest learning rates from LR-range-test curve files",
        description="Suggest learning rates from saved LR-range-test curves (ours, pytorch-lr-finder's, Lightning's): "
        "one row per curve, one column per method, plus diagnostics.",
        epilog=SUGGEST_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("curves", nargs="+", metavar="CURVE", help="curve files (.csv, .json, .npz)")
    p.add_argument("--methods", type=_methods, default=list(METHODS), help="comma-separated, from %(default)s")
    p.add_argument("--num-it", type=_positive_int, help="iterations the test asked for (default: from the file, else its length)")
    p.add_argument("--no-trim", action="store_true", help="use every point (skip lr_find's [num_it//10 : -5] trim)")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="plot the curve and suggestions (one file per curve if several)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=_run_suggest, parser=p)


def _add_policy(policies, policy: str, command: str, run, example: str) -> None:
    func = POLICIES[policy]
    doc = (inspect.getdoc(func) or "").split("\n\n")[0]
    doc += "\n\nOptions are the policy's keyword arguments; a,b,c gives per-group values or a tuple, none gives None."
    p = policies.add_parser(policy, help=doc.splitlines()[0] if doc else policy, description=doc, epilog=example,
                            formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--steps", type=_positive_int, required=True, help="number of training steps (table rows)")
    p.add_argument("-o", "--out", type=Path, required=True, help="output file")
    for name, param in inspect.signature(func).parameters.items():
        required = param.default is inspect.Parameter.empty
        convert = str if isinstance(param.default, str) else _value
        shown = "required" if required else f"default: {param.default!r}"
        p.add_argument("--" + name.replace("_", "-"), dest=f"kw_{name}", type=convert, required=required,
                       default=argparse.SUPPRESS, metavar=name.upper(), help=shown)  # fmt: skip
    p.set_defaults(run=run, parser=p, command=command)


def _value(text: str):
    """A policy option: ``none``, an int, a float, or comma-separated floats (array)."""
    text = text.strip()
    if text.lower() == "none":
        return None
    try:
        if "," in text:
            return np.array([float(t) for t in text.split(",")])
        return int(text) if text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or comma-separated numbers: {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1; got {text!r}")
    return n


def _methods(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in METHODS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown method(s) {unknown or text!r}; choose from {','.join(METHODS)}")
    return names


# ------------------------------------------------------------------------------------ table/plot


def _policy_table(args, parser):
    kwargs = {k[3:]: v for k, v in vars(args).items() if k.startswith("kw_")}
    if "moms" in kwargs and kwargs["moms"] is not None:
        kwargs["moms"] = tuple(np.atleast_1d(kwargs["moms"]).tolist())
    try:
        scheds = get_policy(args.policy)(**kwargs)
    except (ValueError, TypeError) as e:
        parser.error(str(e))
    note = ""
    if isinstance(scheds, tuple):  # sgdr: (scheds, n_epoch)
        scheds, n_epoch = scheds
        note = f", n_epoch={n_epoch}"
    return schedule_table(scheds, args.steps), note


def _run_table(args, parser) -> int:
    table, note = _policy_table(args, parser)
    if args.out.suffix.lower() not in (".npz", ".csv"):
        parser.error(f"-o {args.out}: the table file must end in .npz or .csv")
    path = save_table(table, args.out)
    print(f"wrote {path} ({args.policy}, {table.rows} steps: {', '.join(table)}{note})")
    return 0


def _run_plot(args, parser) -> int:
    from .plot import close, plot_schedules, save_figure

    table, note = _policy_table(args, parser)
    fig = plot_schedules(table, title=f"{args.policy} ({args.steps} steps{note})")
    try:
        path = save_figure(fig, args.out)
    except ValueError as e:
        parser.error(str(e))
    finally:
        close(fig)
    print(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------------------- suggest


def _run_suggest(args, parser) -> int:
    curves = [load_curve(p) for p in args.curves]
    funcs = [METHODS[m] for m in args.methods]
    rows = [_suggest_one(path, curve, funcs, args) for path, curve in zip(args.curves, curves, strict=True)]
    if args.plot:
        for row, curve, out in zip(rows, curves, _plot_paths(args.plot, args.curves), strict=True):
            row["plot"] = str(_plot_curve(curve, row, out, args.no_trim))
    print(json.dumps(rows, indent=2) if args.json else _format_table(rows, args.methods))
    return 0


def _suggest_one(path: str, curve, funcs, args) -> dict:
    num_it = args.num_it or curve.num_it or len(curve)
    lrs, losses = (curve.lrs, curve.losses) if args.no_trim else trim_curve(curve.lrs, curve.losses, num_it)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SuggestionWarning)  # the diagnosis below says why
        values, points = suggest_lrs(lrs, losses, num_it, funcs, trim=False, return_points=True)
    d = diagnose(lrs, losses, funcs)
    return {
        "curve": str(path),
        "points": d.n_points,
        "num_it": num_it,
        "suggestions": {k: _num(v) for k, v in values._asdict().items()},
        "marks": {k: [_num(p[0]), _num(p[1])] for k, p in points._asdict().items()},
        "diagnostics": str(d),
        "problems": list(d.problems),
        "unusable": d.unusable,
        "warnings": list(d.warnings),
    }


def _num(v) -> float | None:
    return None if math.isnan(float(v)) else float(v)


def _plot_paths(out: Path, curves: Sequence[str]) -> list[Path]:
    if len(curves) == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{i}_{Path(c).stem}{out.suffix}") for i, c in enumerate(curves)]


def _plot_curve(curve, row: dict, out: Path, no_trim: bool) -> Path:
    from .plot import close, plot_lr_find, save_figure

    usable = [k for k, v in row["suggestions"].items() if v is not None]
    values = {k: row["suggestions"][k] for k in usable}
    points = {k: tuple(row["marks"][k]) for k in usable}
    fig = plot_lr_find(curve.lrs, curve.losses, (values, points), skip_end=0 if no_trim else 5, title=Path(row["curve"]).name)
    try:
        return save_figure(fig, out)
    finally:
        close(fig)


def _format_table(rows: list[dict], methods: list[str]) -> str:
    header = ["curve", "points", *methods, "diagnostics"]
    body = [[r["curve"], str(r["points"]), *(_fmt(r["suggestions"][m]) for m in methods), r["diagnostics"]] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]]
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2e}"
