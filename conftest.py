"""Repository-wide pytest setup: headless plotting and a bounded hypothesis profile."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

try:
    from hypothesis import settings

    settings.register_profile("ci", deadline=None, print_blob=True)
    settings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass
