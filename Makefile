# `make tune` and `make test` are the two commands a newcomer needs; both install what they use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_WORKERS ?= 2

.PHONY: install tune report test test-slow bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

tune: install
	$(VENV)/bin/hpsearch tune --task classification

test: install lint
	$(PY) -m pytest -q -m "not slow" -n $(PYTEST_WORKERS)

test-slow: install
	$(PY) -m pytest -q -m slow

bench: install
	$(PY) tests/benchmarks/bench_core.py

lint: install
	$(VENV)/bin/ruff check hpsearch tests
	$(VENV)/bin/mypy hpsearch

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
