# `make tune` and `make test` are the two commands a newcomer needs; both install what they use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_WORKERS ?= 2
PLAIN ?= .plain-install

.PHONY: install tune compare report test plain-install-check test-slow bench bench-mup lint clean browser postgres \
	gpu-wheels gpu-check

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

tune: install
	$(VENV)/bin/hpsearch tune --task classification

# The fair comparison on the built-in scenario tasks (README: what it found).
compare: install
	$(VENV)/bin/hpsearch compare --task sparse --task small --task image --task sequence --workers 2

report: install
	$(VENV)/bin/hpsearch report

test: install lint browser postgres plain-install-check
	$(PY) -m pytest -q -m "not slow" -n $(PYTEST_WORKERS)

# What a user who runs `pip install .` (no extras) gets: a fresh environment each time, outside
# $(VENV), running every built-in study for two short trials (tests/plain_install.py).
plain-install-check:
	rm -rf $(PLAIN)
	$(PYTHON) -m venv $(PLAIN)/venv
	$(PLAIN)/venv/bin/python -m pip install --quiet .
	$(PLAIN)/venv/bin/python tests/plain_install.py $(PLAIN)/venv

# A full default study takes minutes: a cap for a hang, not pyproject's per-test 300 s.
test-slow: install
	$(PY) -m pytest -q -m slow --timeout 3600

bench-mup: install
	$(PY) -m pip install --no-deps mup
	$(PY) tests/benchmarks/bench_mup_reference.py --before

bench: install
	$(PY) tests/benchmarks/bench_core.py
	$(PY) tests/benchmarks/bench_report.py
	$(PY) tests/benchmarks/bench_workers.py
	$(PY) tests/benchmarks/bench_lr_find.py
	$(PY) tests/benchmarks/bench_lm.py
	$(PY) tests/benchmarks/bench_batched.py
	$(PY) tests/benchmarks/bench_command.py
	$(PY) tests/benchmarks/bench_sampler.py

lint: install
	$(VENV)/bin/ruff check hpsearch tests examples
	$(VENV)/bin/mypy hpsearch

# The report's tests open it in a real headless Chromium (tests/browser.py); Debian's package.
browser:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
		else echo "chromium is missing and installing it needs root: apt-get install chromium" >&2; exit 1; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

# The PostgreSQL storage tests start a real server of their own (tests/postgres.py); Debian's package.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
		else echo "postgresql is missing and installing it needs root: apt-get install postgresql" >&2; exit 1; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql; }

clean:
	rm -rf $(VENV) $(PLAIN) build *.egg-info .pytest_cache

# For a machine with a GPU that reaches no package registry: `make gpu-wheels` here fills the folder
# with optuna and its pure-Python dependencies (wheels for each Python below); copy the checkout with
# it there and run `make gpu-check`, which uses that machine's own torch and numpy.
GPU_WHEELS ?= gpu-wheels
GPU_PYTHONS ?= 3.10 3.11 3.12 3.13
GPU_PACKAGES := optuna alembic sqlalchemy colorlog tqdm pyyaml mako markupsafe typing-extensions packaging click \
	schedulefree pytorch-optimizer

gpu-wheels:
	for version in $(GPU_PYTHONS); do \
	  $(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --dest $(GPU_WHEELS) \
	    --platform manylinux2014_x86_64 --python-version $$version $(GPU_PACKAGES) || exit 1; \
	done

gpu-check:
	$(PYTHON) -m venv --system-site-packages .gpu-venv
	.gpu-venv/bin/python -m pip install --quiet --no-index --no-deps --find-links $(GPU_WHEELS) $(GPU_PACKAGES)
	PYTHONPATH=. timeout 600 .gpu-venv/bin/python tests/gpu_check.py
	PYTHONPATH=. timeout 300 .gpu-venv/bin/python tests/benchmarks/bench_batched.py --device cuda --quick --part a --tasks lm
