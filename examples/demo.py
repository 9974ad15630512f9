"""The main job, end to end (run by `make demo`).

1. Compute a one-cycle schedule table with schedcore and save it (.npz and .csv).
2. Plot the schedules.
3. Train a small classifier: lr_find (saving its curve and plot), then fit_one_cycle at the
   suggested learning rate.
4. Analyse the saved loss curve again from the command line: `schedcore suggest`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from schedcore import load_table, one_cycle, schedule_table, sgdr, wsd


def step_table(out: Path, n_steps: int = 10_000) -> None:
    table = schedule_table(one_cycle(1e-3), n_steps)
    for ext in (".npz", ".csv"):
        table.save(out / f"one_cycle{ext}")
    back = load_table(out / "one_cycle.npz")
    print(f"[1] one-cycle table: {back.rows} steps -> {out / 'one_cycle.npz'} and .csv")
    for name in back:
        v = back[name]
        print(f"    {name:>4}: first {v[0]:.3g}  max {v.max():.3g} at step {int(v.argmax())}  "
              f"min {v.min():.3g}  last {v[-1]:.3g}")
    np.testing.assert_array_equal(back["lr"], table["lr"])


def step_plot(out: Path) -> None:
    from schedcore.plot import close, plot_schedules, save_figure

    for name, scheds in [("one_cycle", one_cycle(1e-3)), ("wsd", wsd(1e-3, 0.05, 0.2, decay="sqrt")),
                         ("sgdr", sgdr(3, 1, 1e-3))]:
        fig = plot_schedules(scheds, title=name)
        save_figure(fig, out / f"sched_{name}.png")
        close(fig)
    print(f"[2] schedule plots -> {out}/sched_{{one_cycle,wsd,sgdr}}.png")


def step_train(out: Path) -> Path:
    """lr_find (curve and plot saved), then fit_one_cycle at the suggested rate."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from schedcore import minimum, steep, valley
    from torch_adapter import DataLoaders, Learner, accuracy

    torch.manual_seed(0)
    centres = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])

    def blobs(n: int) -> TensorDataset:  # three Gaussian blobs: a small classification task
        y = torch.randint(0, 3, (n,))
        return TensorDataset(centres[y] + 0.8 * torch.randn(n, 2), y)

    dls = DataLoaders(DataLoader(blobs(2048), batch_size=64, shuffle=True), DataLoader(blobs(512), batch_size=256))
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3))
    learn = Learner(dls, model, nn.CrossEntropyLoss(), metrics=[accuracy], path=out)
    curve = out / "lr_find.json"
    sugg = learn.lr_find(suggest_funcs=(valley, minimum, steep), save_to=curve)
    learn.recorder.lr_find_fig.savefig(out / "lr_find.png")
    print(f"[3] lr_find: {', '.join(f'{k}={v:.2e}' for k, v in sugg._asdict().items())}"
          f" (curve -> {curve}, plot -> {out / 'lr_find.png'})")
    print(f"    fit_one_cycle(4, lr_max={sugg.valley:.2e}):")
    learn.fit_one_cycle(4, lr_max=sugg.valley)
    learn.recorder.plot_sched().savefig(out / "fit_sched.png")
    learn.save("demo_model")
    return curve


def step_suggest(out: Path, curve: Path) -> None:
    """Analyse the saved LR-finder curve again, from the command line."""
    exe = Path(sys.executable).with_name("schedcore")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "schedcore"]
    cmd += ["suggest", str(curve), "--methods", "valley,minimum,steep", "--plot", str(out / "suggest.png")]
    print("[4] $ " + " ".join(["schedcore"] + cmd[1 if exe.exists() else 3 :]))
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    step_table(out)
    step_plot(out)
    curve = step_train(out)
    step_suggest(out, curve)
    print(f"done: outputs in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
