"""Repository-wide pytest setup: headless plotting, one torch thread, hypothesis settings profiles.

The environment variable ``HYPOTHESIS_PROFILE`` picks the profile:

- ``fast`` (the default: ``make test``, CI): 40 examples per property test, derandomised, so a
  run is quick and every run checks the same examples.
- ``thorough``: 3000 examples per property test, randomised (new examples every run), for
  hunting bugs before a release: ``HYPOTHESIS_PROFILE=thorough .venv/bin/pytest tests/schedcore``.

Property tests state only what differs from the profile (``deadline=None``), never
``max_examples`` or ``derandomize``, so the profile decides how hard they look.

Without matplotlib (the plot extra) the tests that plot are skipped; without torch (the torch
extra) torch_adapter and its tests are not collected.
"""

import importlib.util
import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# One intra-op thread for torch (and the worker processes the tests start): the tests' tensors
# are tiny, and on a loaded machine torch's two spinning OpenMP threads made a 16x32 linear
# layer take milliseconds instead of ~10 us. Set before torch is imported; OMP_NUM_THREADS=N
# in the environment still wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


HAS_MATPLOTLIB = _installed("matplotlib")
HAS_TORCH = _installed("torch") and _installed("tqdm")
# doctests that draw (tests that do are marked @pytest.mark.requires_matplotlib)
MATPLOTLIB_DOCTESTS = ("schedcore.plot", "torch_adapter.recorder.Recorder.plot_")


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_matplotlib: skipped when matplotlib (the plot extra) is missing")


def pytest_collection_modifyitems(config, items):
    if HAS_MATPLOTLIB:
        return
    skip = pytest.mark.skip(reason='needs matplotlib: pip install "schedcore[plot]"')
    for item in items:
        is_plot_doctest = type(item).__name__ == "DoctestItem" and item.name.startswith(MATPLOTLIB_DOCTESTS)
        if is_plot_doctest or item.get_closest_marker("requires_matplotlib"):
            item.add_marker(skip)


try:
    from hypothesis import settings
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass
else:
    settings.register_profile("fast", max_examples=40, derandomize=True, deadline=None, print_blob=True)
    settings.register_profile("thorough", max_examples=3000, derandomize=False, deadline=None, print_blob=True)
    _profile = os.environ.get("HYPOTHESIS_PROFILE", "fast")
    if _profile not in ("fast", "thorough"):
        raise ValueError(f"HYPOTHESIS_PROFILE must be 'fast' or 'thorough'; got {_profile!r}")
    settings.load_profile(_profile)

# Scripts that test_distributed.py launches in worker processes: not test modules, and they
# need torchrun's environment to import.
collect_ignore_glob = ["tests/torch_adapter/ddp_*.py"]
if not HAS_TORCH:
    collect_ignore_glob += ["torch_adapter/*", "tests/torch_adapter/*"]
