# `make test` and `make demo` each set everything up from scratch (idempotent).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: setup test demo bench bench-suggest lint clean mutation

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch comes from the local CPU wheel, pinned, *before* anything that depends on it,
# so that no resolver ever reaches for a multi-GB CUDA build.
$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -e ".[torch,plot,dev]"
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(VENV)/bin/ruff check schedcore torch_adapter tests benchmarks examples

test: setup lint
	$(VENV)/bin/pytest -q

demo: setup
	$(PY) examples/demo.py --out demo_out

bench: setup
	$(PY) benchmarks/bench_schedules.py

# Mutation testing of schedcore with mutmut (the `mutation` extra). Not part of `make test` or CI:
# heavy (see the README's Tests section for run times). Each mutant runs only the tests of
# tests/schedcore and schedcore's doctests that call the mutated function; MUTANTS narrows the
# run to some files or functions, e.g.  make mutation MUTANTS='schedcore.policies.*'
MUTANTS ?= 'schedcore.*'
JOBS    ?= 2
# Always a fresh run: mutmut 3.8.1 keeps an existing mutants/ folder's results for functions
# whose code did not change even when the tests did, so a rerun there can report stale scores.
mutation: setup
	$(PIP) install --quiet -e ".[mutation]"
	rm -rf mutants
	nice -n 10 $(VENV)/bin/mutmut run --max-children $(JOBS) $(MUTANTS)
	$(PY) tools/mutation_score.py --survivors

# Suggester quality: score every rule on the committed data (seconds). REGEN=1 first reruns the
# training grid (tens of minutes on 2 cores; installs the `bench` extra for scikit-learn's data).
bench-suggest: setup
ifdef REGEN
	$(PIP) install --quiet -e ".[torch,plot,dev,bench]"
	nice -n 10 $(PY) benchmarks/suggest_quality/report.py --regenerate
else
	$(PY) benchmarks/suggest_quality/report.py
endif

clean:
	rm -rf $(VENV) demo_out build *.egg-info mutants
