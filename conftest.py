"""Repository-wide pytest setup: headless plotting and a bounded hypothesis profile."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

try:
    from hypothesis import settings

    settings.register_profile("ci", deadline=None, print_blob=True)
    settings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass

# Scripts that test_distributed.py launches in worker processes: not test modules, and they
# need torchrun's environment to import.
collect_ignore_glob = ["tests/torch_adapter/ddp_*.py"]
