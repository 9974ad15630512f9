"""schedcore is pure numpy: importing it (and using every module) never imports torch."""

import subprocess
import sys

CODE = """
import sys
import schedcore, schedcore.annealers, schedcore.combine, schedcore.policies, schedcore.tables
for mod in ("suggest", "curves", "plot", "cli"):
    try:
        __import__("schedcore." + mod)
    except ModuleNotFoundError as e:
        if e.name != "schedcore." + mod:
            raise
schedcore.schedule_table(schedcore.one_cycle(1e-3), 10)
print("torch" in sys.modules)
"""


def test_import_schedcore_leaves_torch_out():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr
