# `make test` and `make demo` each set everything up from scratch (idempotent).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: setup test demo bench lint clean

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

clean:
	rm -rf $(VENV) demo_out build *.egg-info
