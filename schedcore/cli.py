"""The ``schedcore`` command (also ``python -m schedcore``): suggest, table, plot.

    schedcore suggest CURVE... [--methods valley,slide,minimum,steep] [--num-it N] [--plot out.png] [--json]
    schedcore table POLICY --steps N [policy options] -o out.npz|out.csv|-
    schedcore plot POLICY --steps N [policy options] -o out.png [--log-y]
    schedcore plot FILE... [-o out.png] [--log-y]       # a saved table or loss curve
    schedcore --version

Phase lengths are fractions of ``--steps`` (``--warmup-pct 0.05``) or absolute step counts
(``--warmup-steps 50``). ``-o -`` writes the table to stdout as CSV; a closed pipe (``| head``)
ends the command quietly with status 0. An output folder that does not exist is an error unless
``--parents`` is given. Bad arguments exit with status 2 and a one-line reason; unreadable or
missing files (and missing output folders) with 1.

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
import os
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from . import __version__
from .curves import load_curve
from .policies import POLICIES, get_policy
from .suggest import SuggestionWarning, diagnose, minimum, slide, steep, suggest_lrs, trim_curve, valley
from .tables import load_table, save_table, schedule_table, table_csv_lines

__all__ = ["main"]

METHODS = {"valley": valley, "slide": slide, "minimum": minimum, "steep": steep}

SUGGEST_EXAMPLE = """example:
  schedcore suggest lr_find.csv other_run.json --methods valley,minimum --plot lr_find.png
  schedcore suggest history.json --json     # pytorch-lr-finder / Lightning files work too"""
TABLE_EXAMPLE = """example:
  schedcore table one_cycle --steps 1000 --lr-max 1e-3 -o one_cycle.npz
  schedcore table wsd --steps 1000 --lr-max 1e-3 --warmup-steps 50 --decay-steps 200 -o wsd.csv
  schedcore table sgdr --steps 700 --n-cycles 3 --cycle-len 1 --lr-max 0.1 -o - | head -3
  schedcore table one_cycle --help          # the policy's options"""
PLOT_EXAMPLE = """example:
  schedcore plot one_cycle --steps 1000 --lr-max 1e-3 -o one_cycle.png
  schedcore plot wsd --steps 1000 --lr-max 1e-3 --warmup-pct 0.05 --decay-pct 0.2 -o wsd.png
  schedcore plot one_cycle.npz lr_find.csv --log-y   # saved tables and curves: FILE.png each"""
PLOT_FILE_EXAMPLE = """example:
  schedcore plot one_cycle.npz                # writes one_cycle.png
  schedcore plot lr_find.csv --log-y -o figures/lr_find.svg --parents"""

# A fraction-of-the-steps option -> the option giving the same phase length in steps.
PHASE_STEPS = {
    ("one_cycle", "pct_start"): "warmup_steps",
    ("flat_cos", "pct_start"): "flat_steps",
    ("warmup_cosine", "warmup_pct"): "warmup_steps",
    ("wsd", "warmup_pct"): "warmup_steps",
    ("wsd", "decay_pct"): "decay_steps",
}

LR = "learning rate"
FRACTION = "fraction of --steps, 0 to 1"
# Policy keyword -> (what it is, its unit); (policy, keyword) entries override.
OPTION_HELP: dict = {
    "lr_max": ("peak learning rate; a,b,c gives one per parameter group", LR),
    "lr": ("learning rate of the flat part; a,b,c gives one per parameter group", LR),
    "div": ("the first step's lr is lr_max/div", "ratio"),
    "div_final": ("the lr decays towards lr_max/div_final", "ratio"),
    ("flat_cos", "div_final"): ("the lr decays towards lr/div_final", "ratio"),
    "pct_start": ("length of the rising phase", FRACTION),
    ("flat_cos", "pct_start"): ("length of the flat phase", FRACTION),
    "moms": ("momentum at start,turn,end (three values); none leaves momentum alone", "momentum"),
    "n_groups": ("number of parameter groups; a,b,c values must have this many", "count"),
    "n_cycles": ("number of cosine cycles", "count"),
    "cycle_len": ("length of the first cycle", "epochs"),
    "cycle_mult": ("each cycle is this many times longer than the one before", "ratio"),
    "min_lr": ("learning rate the decay ends at", LR),
    "cycle_decay": ("cycle i peaks at lr_max*cycle_decay**i", "ratio"),
    "start_lr": ("learning rate at the first step", LR),
    "end_lr": ("learning rate at the end (position 1, never applied)", LR),
    "mode": ("exp (geometric) or linear", "choice"),
    "warmup_pct": ("length of the linear warmup", FRACTION),
    "decay_pct": ("length of the final decay", FRACTION),
    "decay": ("shape of the decay: cos, linear or sqrt", "choice"),
    "warmup_start": ("learning rate at the first warmup step", LR),
}


def _plain(text: str) -> str:
    """Docstring text as plain text for --help: reST roles and backticks removed."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    return text.replace("`", "")


def _default(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (plus a hint), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``schedcore`` command line (``schedcore --help`` lists the commands).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, also when stdout is a pipe its reader closed early (``| head``).

    Raises
    ------
    SystemExit
        Status 2 for bad arguments (one line on stderr), 1 for unreadable or missing files,
        missing output folders or a missing optional dependency (one line on stderr); 0 after
        ``--help`` or ``--version``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "flat.csv"
    >>> main(["table", "flat_cos", "--steps", "4", "--lr", "1", "-o", str(out)])
    wrote ... (flat_cos, 4 steps: lr)
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if _plots_files(argv):
        parser, argv = _plot_file_parser(), argv[1:]
    else:
        parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.run(args, args.parser)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:  # `schedcore ... | head`: the reader has what it wanted
        _silence_stdout()
        return 0
    except FileNotFoundError as e:
        message = f"{e.filename}: no such file" if e.filename else str(e)
    except (ValueError, OSError, ImportError) as e:  # ImportError: no matplotlib for --plot / plot
        message = str(e)
    except MemoryError:  # what the up-front size checks could not foresee
        message = "out of memory; use fewer --steps (or a .npz file rather than .csv)"
    except (OverflowError, RecursionError, TypeError) as e:  # never a traceback, whatever the input
        message = f"{type(e).__name__}: {e}"
    _fail(message)


def _fail(message: str) -> NoReturn:
    print(f"schedcore: error: {message}", file=sys.stderr)
    raise SystemExit(1)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush does not report the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor (stdout replaced in-process)
        pass


def _build_parser() -> _Parser:
    parser = _Parser(prog="schedcore", description="Hyper-parameter schedules and learning-rate suggestions.")
    parser.add_argument("--version", action="version", version=f"schedcore {__version__}")
    sub = parser.add_subparsers(title="commands", required=True)  # shown as {suggest,table,plot}
    _add_suggest(sub)
    for name, example, run in (("table", TABLE_EXAMPLE, _run_table), ("plot", PLOT_EXAMPLE, _run_plot)):
        if name == "table":
            what = "write a schedule table (.npz or .csv, or CSV on stdout)"
        else:
            what = "plot a schedule (.png/.pdf/.svg), or a saved table or curve: schedcore plot FILE --help"
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
    p.add_argument("--methods", type=_methods, default=list(METHODS), help=f"comma-separated suggesters (names; default: {','.join(METHODS)})")
    p.add_argument("--num-it", type=_positive_int, help="iterations the test asked for (iterations; default: from the file, else its length)")
    p.add_argument("--no-trim", action="store_true", help="use every point, skipping lr_find's [num_it//10 : -5] trim (flag; default: off)")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="plot the curve and suggestions, one file per curve if several (file; default: no plot)")
    p.add_argument("--parents", action="store_true", help="create the --plot file's missing folders (flag; default: off, a missing folder is an error)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table (flag; default: off)")
    p.set_defaults(run=_run_suggest, parser=p)


def _add_policy(policies, policy: str, command: str, run, example: str) -> None:
    func = POLICIES[policy]
    summary = _plain((inspect.getdoc(func) or "").split("\n\n")[0])
    doc = "Options are the policy's keyword arguments; a,b,c gives per-group values or a tuple, none gives None."
    p = policies.add_parser(policy, help=summary.splitlines()[0] if summary else policy, description=f"{summary}\n\n{doc}".strip(),
                            epilog=example, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--steps", type=_positive_int, required=True, help="number of training steps, one table row each (steps; required)")
    if command == "table":
        p.add_argument("-o", "--out", required=True, help="table file: .npz or .csv, or - for CSV on stdout (file; required)")
    else:
        p.add_argument("-o", "--out", required=True, help="figure file: .png, .pdf, .svg, ... (file; required)")
        p.add_argument("--log-y", action="store_true", help="logarithmic value axes (flag; default: off)")
    p.add_argument("--parents", action="store_true", help="create the output file's missing folders (flag; default: off, a missing folder is an error)")
    for name, param in inspect.signature(func).parameters.items():
        _add_policy_option(p, policy, name, param)
    p.set_defaults(run=run, parser=p)


def _add_policy_option(p, policy: str, name: str, param: inspect.Parameter) -> None:
    required = param.default is inspect.Parameter.empty
    text, unit = OPTION_HELP.get((policy, name)) or OPTION_HELP.get(name) or (name.replace("_", " "), "value")
    steps_name = PHASE_STEPS.get((policy, name))
    group = p.add_mutually_exclusive_group(required=required) if steps_name else p
    shown = "required" + (f" unless --{steps_name.replace('_', '-')}" if steps_name else "") if required else f"default: {_default(param.default)}"
    convert = str if isinstance(param.default, str) else _value
    group.add_argument("--" + name.replace("_", "-"), dest=f"kw_{name}", type=convert, required=required and not steps_name,
                       default=argparse.SUPPRESS, metavar=name.upper(), help=f"{text} ({unit}; {shown})")  # fmt: skip
    if steps_name:
        flag = "--" + name.replace("_", "-")
        shown = f"required unless {flag}" if required else f"default: from {flag}"
        group.add_argument("--" + steps_name.replace("_", "-"), dest=f"steps_{name}", type=_count, default=argparse.SUPPRESS,
                           metavar="N", help=f"{text}, instead of {flag} (steps; {shown})")  # fmt: skip


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


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of steps >= 0; got {text!r}")
    return n


def _methods(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in METHODS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown method(s) {unknown or text!r}; choose from {','.join(METHODS)}")
    return names


def _out_folder_ready(out: Path, parents: bool) -> None:
    """The folder ``out`` goes into exists (or, with ``--parents``, is created); else exit 1 naming it."""
    folder = out.parent
    if folder.exists() and not folder.is_dir():
        _fail(f"{out}: {folder} is not a folder")
    if parents:
        folder.mkdir(parents=True, exist_ok=True)
    elif not folder.is_dir():
        _fail(f"{out}: the folder {folder} does not exist (add --parents to create it)")


# ------------------------------------------------------------------------------------ table/plot


def _policy_table(args, parser):
    kwargs = {k[3:]: v for k, v in vars(args).items() if k.startswith("kw_")}
    for key, n in vars(args).items():
        if key.startswith("steps_"):
            name = key[len("steps_"):]
            if n > args.steps:
                flag = PHASE_STEPS[(args.policy, name)].replace("_", "-")
                parser.error(f"--{flag} {n} is more than --steps {args.steps}")
            kwargs[name] = n / args.steps  # the table's own division: the phase ends at step n
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
    to_stdout = args.out == "-"
    out = Path(args.out)
    if not to_stdout and out.suffix.lower() not in (".npz", ".csv"):
        parser.error(f"-o {out}: the table file must end in .npz or .csv (or be - for stdout)")
    if not to_stdout:
        _out_folder_ready(out, args.parents)
    table, note = _policy_table(args, parser)
    if to_stdout:
        sys.stdout.writelines(table_csv_lines(table))
        return 0
    path = save_table(table, out)
    print(f"wrote {path} ({args.policy}, {table.rows} steps: {', '.join(table)}{note})")
    return 0


def _figure_out(out: str, parser) -> Path:
    if out == "-":
        parser.error("-o -: only tables go to stdout; give the figure a file name (.png, .pdf, .svg)")
    return Path(out)


def _run_plot(args, parser) -> int:
    from .plot import plot_schedules

    out = _figure_out(args.out, parser)
    _out_folder_ready(out, args.parents)
    table, note = _policy_table(args, parser)
    fig = plot_schedules(table, title=f"{args.policy} ({args.steps} steps{note})")
    print(f"wrote {_save(fig, out, args.log_y, parser)}")
    return 0


def _save(fig, out: Path, log_y: bool, parser) -> Path:
    from .plot import close, save_figure

    try:
        if log_y:
            for ax in fig.axes:
                ax.set_yscale("log")
        return save_figure(fig, out)
    except ValueError as e:
        parser.error(str(e))
    finally:
        close(fig)


# ------------------------------------------------------------------------- plot a saved file


def _plots_files(argv: list[str]) -> bool:
    """``schedcore plot FILE ...`` (not ``schedcore plot POLICY ...``)."""
    if len(argv) < 2 or argv[0] != "plot" or argv[1].startswith("-") or argv[1] in POLICIES:
        return False
    return bool(Path(argv[1]).suffix) or Path(argv[1]).exists()


def _plot_file_parser() -> _Parser:
    what = "Plot saved schedule tables (.npz/.csv) and LR-range-test curves (.csv/.json/.npz), one figure per file"
    p = _Parser(prog="schedcore plot", description=what + ".", epilog=PLOT_FILE_EXAMPLE,
                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("files", nargs="+", metavar="FILE", help="table or curve files")
    p.add_argument("-o", "--out", help="figure file: .png, .pdf, .svg, ...; with several FILEs, OUT_i_FILE.ext each (file; default: FILE.png beside FILE)")
    p.add_argument("--log-y", action="store_true", help="logarithmic value axes (flag; default: off)")
    p.add_argument("--parents", action="store_true", help="create the output file's missing folders (flag; default: off, a missing folder is an error)")
    p.set_defaults(run=_run_plot_file, parser=p)
    return p


def _run_plot_file(args, parser) -> int:
    if args.out is None:
        outs = [Path(f).with_suffix(".png") for f in args.files]
    else:
        outs = _plot_paths(_figure_out(args.out, parser), args.files)
    for out in outs:
        _out_folder_ready(out, args.parents)
    for path, out in zip(args.files, outs, strict=True):
        fig = _figure_of_file(Path(path))
        print(f"wrote {_save(fig, out, args.log_y, parser)}")
    return 0


def _figure_of_file(path: Path):
    from .plot import plot_lr_find, plot_schedules

    try:
        table = load_table(path)
    except ValueError as not_table:
        try:
            curve = load_curve(path)
        except ValueError as not_curve:
            why = [str(e).removeprefix(f"{path}: ") for e in (not_table, not_curve)]
            raise ValueError(f"{path}: neither a schedule table ({why[0]}) nor a loss curve ({why[1]})") from None
        return plot_lr_find(curve.lrs, curve.losses, skip_end=0, title=path.name)
    return plot_schedules(table, title=f"{path.name} ({table.n_steps} steps)")


# --------------------------------------------------------------------------------------- suggest


def _run_suggest(args, parser) -> int:
    plots = _plot_paths(args.plot, args.curves) if args.plot else []
    for out in plots:
        _out_folder_ready(out, args.parents)
    curves = [load_curve(p) for p in args.curves]
    funcs = [METHODS[m] for m in args.methods]
    rows = [_suggest_one(path, curve, funcs, args) for path, curve in zip(args.curves, curves, strict=True)]
    for row, curve, out in zip(rows, curves, plots, strict=False):
        row["plot"] = str(_save(_plot_curve(curve, row, args.no_trim), out, False, parser))
    print(json.dumps(rows, indent=2) if args.json else _format_table(rows, args.methods))
    if not args.json:
        for row in rows:
            if "plot" in row:
                print(f"wrote {row['plot']}")
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


def _plot_curve(curve, row: dict, no_trim: bool):
    from .plot import plot_lr_find

    usable = [k for k, v in row["suggestions"].items() if v is not None]
    values = {k: row["suggestions"][k] for k in usable}
    points = {k: tuple(row["marks"][k]) for k in usable}
    return plot_lr_find(curve.lrs, curve.losses, (values, points), skip_end=0 if no_trim else 5, title=Path(row["curve"]).name)


def _format_table(rows: list[dict], methods: list[str]) -> str:
    header = ["curve", "points", *methods, "diagnostics"]
    body = [[r["curve"], str(r["points"]), *(_fmt(r["suggestions"][m]) for m in methods), r["diagnostics"]] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]]
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2e}"
