"""Public schedcore functions carry numpydoc sections (as numpy and scipy write them); their
examples run as doctests (pytest --doctest-modules, configured in pyproject.toml)."""

import importlib
import inspect

import pytest

SECTIONS = ("Returns\n-------", "Raises\n------", "Examples\n--------")
# the modules documented this way (a module added later joins this list once documented)
MODULES = ("annealers", "callables", "cli", "combine", "curves", "guards", "plot", "policies", "suggest", "tables")


def public_functions():
    for module_name in MODULES:
        module = importlib.import_module(f"schedcore.{module_name}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                yield f"{module_name}.{name}", obj


FUNCTIONS = dict(public_functions())


def test_the_public_functions_are_found():
    assert {"policies.one_cycle", "tables.schedule_table", "suggest.valley", "cli.main", "plot.plot_lr_find"} <= set(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_numpydoc_sections(name):
    doc = inspect.getdoc(FUNCTIONS[name]) or ""
    missing = [s.split("\n")[0] for s in SECTIONS if s not in doc]
    if inspect.signature(FUNCTIONS[name]).parameters and "Parameters\n----------" not in doc:
        missing.insert(0, "Parameters")
    assert not missing, f"{name} lacks {missing}"
    examples = doc.split("Examples\n--------", 1)[1]
    assert ">>> " in examples, f"{name}: the Examples section has no doctest"
