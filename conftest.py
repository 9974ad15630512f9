"""Repository-wide pytest setup: headless plotting and hypothesis settings profiles.

The environment variable ``HYPOTHESIS_PROFILE`` picks the profile:

- ``fast`` (the default: ``make test``, CI): 40 examples per property test, derandomised, so a
  run is quick and every run checks the same examples.
- ``thorough``: 3000 examples per property test, randomised (new examples every run), for
  hunting bugs before a release: ``HYPOTHESIS_PROFILE=thorough .venv/bin/pytest tests/schedcore``.

Property tests state only what differs from the profile (``deadline=None``), never
``max_examples`` or ``derandomize``, so the profile decides how hard they look.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

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
