"""Packaging: license, one version, typing marker, and a README that stands on its own in the wheel."""

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

import schedcore

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_license_file_matches_the_spdx_license():
    project = pyproject()["project"]
    assert project["license"] == "Apache-2.0"  # the SPDX string form, not a {text = ...} table
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    requires = pyproject()["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77 for r in requires), requires


def test_version_has_one_source():
    config = pyproject()
    assert "version" not in config["project"] and "version" in config["project"]["dynamic"]
    assert config["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "schedcore.__version__"}
    assert importlib.metadata.version("schedcore") == schedcore.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", schedcore.__version__)


def test_version_on_the_command_line():
    out = subprocess.run([sys.executable, "-m", "schedcore", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == f"schedcore {schedcore.__version__}\n" and out.stderr == ""


@pytest.mark.parametrize("package", ["schedcore", "torch_adapter"])
def test_packages_are_marked_typed(package):
    assert (ROOT / package / "py.typed").is_file()
    assert pyproject()["tool"]["setuptools"]["package-data"][package] == ["py.typed"]


def test_readme_points_at_nothing_outside_the_project():
    text = (ROOT / "README.md").read_text()
    assert not re.search(r"\.\./|/work/|shared/", text), re.findall(r".*(?:\.\./|/work/|shared/).*", text)
    for link in re.findall(r"\]\(([^)#]+)\)", text):  # markdown links to files must exist in the repo
        assert link.startswith(("http://", "https://")) or (ROOT / link).exists(), link
