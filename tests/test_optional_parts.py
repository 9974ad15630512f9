"""The optional parts fail helpfully. matplotlib (the plot extra) and torch (the torch extra) are
made unimportable in a subprocess by a meta-path blocker in a ``sitecustomize`` module, which every
child process (the CLI, a nested pytest) inherits through ``PYTHONPATH``."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PLOT_HINT = 'pip install "schedcore[plot]"'
TORCH_HINT = 'pip install "schedcore[torch]"'

BLOCKER = '''
import os, sys
BLOCKED = set(os.environ["BLOCK_MODULES"].split(","))
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Blocker())
'''


@pytest.fixture
def without(tmp_path):
    """``without("matplotlib")(cmd...)`` runs ``cmd`` with those modules unimportable."""
    (tmp_path / "block").mkdir()
    (tmp_path / "block" / "sitecustomize.py").write_text(BLOCKER)

    def runner(*modules):
        env = {**os.environ, "BLOCK_MODULES": ",".join(modules), "PYTHONPATH": str(tmp_path / "block")}

        def run(*cmd, cwd=tmp_path):
            return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, env=env)

        return run

    return runner


def test_the_blocker_blocks(without):
    out = without("matplotlib")(sys.executable, "-c", "import matplotlib")
    assert out.returncode == 1 and "No module named 'matplotlib'" in out.stderr


def test_plot_functions_without_matplotlib_say_how_to_install(without):
    code = """
import numpy as np, schedcore
from schedcore.plot import pyplot
calls = {
    "plot_lr_find": lambda: schedcore.plot_lr_find(np.geomspace(1e-4, 1, 10), np.linspace(2, 1, 10)),
    "plot_schedules": lambda: schedcore.plot_schedules(schedcore.one_cycle(1e-3), 10),
    "pyplot": pyplot,
}
for name, call in calls.items():
    try:
        call()
    except ImportError as e:
        print(name, type(e).__name__, e)
"""
    out = without("matplotlib")(sys.executable, "-c", code)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and len(lines) == 3, out.stderr
    for line, name in zip(lines, ["plot_lr_find", "plot_schedules", "pyplot"], strict=True):
        assert line.startswith(f"{name} ImportError ") and PLOT_HINT in line


def test_cli_plots_without_matplotlib_fail_in_one_line(without, tmp_path):
    from schedcore import save_curve

    curve = save_curve(tmp_path / "c.json", np.geomspace(1e-5, 1, 50), np.linspace(3, 1, 50))
    run = without("matplotlib")
    for args in (["plot", "one_cycle", "--steps", 10, "--lr-max", 1, "-o", "p.png"], ["plot", curve], ["suggest", curve, "--plot", "s.png"]):
        out = run(sys.executable, "-m", "schedcore", *args)
        assert out.returncode == 1 and len(out.stderr.splitlines()) == 1 and PLOT_HINT in out.stderr, out.stderr
    out = run(sys.executable, "-m", "schedcore", "suggest", curve)  # no plot asked for: works
    assert out.returncode == 0 and "c.json" in out.stdout
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("module", ["torch", "tqdm"])
def test_torch_adapter_without_torch_says_how_to_install(without, module):
    if module == "tqdm":
        pytest.importorskip("torch")  # else torch is the first missing one
    code = """
try:
    from torch_adapter.lr_scheduler import TableScheduler
except ImportError as e:
    print(type(e).__name__, e)
import schedcore, sys
print(schedcore.schedule_table(schedcore.one_cycle(1e-3), 4).rows, "torch" in sys.modules and sys.modules["torch"] is not None)
"""
    out = without(module)(sys.executable, "-c", code)
    first, second = out.stdout.splitlines()
    assert first.startswith("ImportError torch_adapter needs PyTorch") and f"{module} is missing" in first and TORCH_HINT in first
    assert second == f"4 {module == 'tqdm'}", out.stderr  # schedcore itself needs neither


def test_own_plot_tests_skip_without_matplotlib(without):
    """The project's plot tests and plotting doctests report skipped, not failed, without matplotlib."""
    targets = ["tests/schedcore/test_plot.py", "schedcore/plot.py", "tests/schedcore/test_cli.py::test_table_and_plot_policies"]
    out = without("matplotlib")(sys.executable, "-m", "pytest", "-q", "-rs", *targets, cwd=ROOT)
    summary = out.stdout.strip().splitlines()[-1]
    assert out.returncode == 0 and "failed" not in summary and "error" not in summary, out.stdout[-3000:]
    assert "skipped" in summary and "passed" not in summary, summary
    assert "needs matplotlib" in out.stdout or "could not import 'matplotlib'" in out.stdout
