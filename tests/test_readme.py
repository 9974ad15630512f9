"""The README's snippets run: every ```python block in order, in one namespace, and every
`schedcore ...` line of its ```sh blocks (through this interpreter and bash, pipes included),
in a temporary folder."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(python|sh)\n(.*?)^```", re.S | re.M)


def blocks():
    return BLOCK.findall(README.read_text())


def test_readme_has_the_two_commands_first():
    first = blocks()[0]
    assert first[0] == "sh" and "make demo" in first[1] and "make test" in first[1]


def test_readme_snippets_run(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__readme__"}
    ran = 0
    for lang, code in blocks():
        if lang == "python":
            exec(compile(code, f"README.md python block {ran}", "exec"), namespace)
            ran += 1
        else:
            for line in code.splitlines():
                line = line.split("#", 1)[0].strip()
                if line.startswith("schedcore "):  # through bash, so that pipes work as shown
                    cmd = f"set -o pipefail; {shlex.quote(sys.executable)} -m {line}"
                    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=os.environ.copy())
                    assert out.returncode == 0, f"{line}\n{out.stdout}\n{out.stderr}"
                    ran += 1
    assert ran >= 8
    assert Path("lr_find.png").exists() and Path("wsd.png").exists()
