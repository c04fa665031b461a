# crmpipe: `make demo` and `make test` work on a fresh machine with only Python 3.11 and git.
# uv is bootstrapped into .tools/ (no system changes); dependencies come from uv.lock.

PYTHON ?= python3
TOOLS  := .tools
UV     := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
RUN    := $(UV) run --frozen

.PHONY: setup demo test test-fast bench lint format clean

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

# Bytecode is compiled at install (the dependencies) and at setup (src/, only what changed):
# where Python may not write it (PYTHONDONTWRITEBYTECODE, read-only installs) every process
# would otherwise compile hundreds of modules on import: 1.5 s before a command starts.
setup: $(if $(filter $(TOOLS)/bin/uv,$(UV)),$(TOOLS)/bin/uv)
	$(UV) sync --frozen --quiet --compile-bytecode
	$(RUN) python -m compileall -q -j 0 src

demo: setup
	$(RUN) crmpipe demo pursuit

# Both on two pytest-xdist workers, each with its own throwaway PostgreSQL cluster. The full
# suite keeps each test file on one worker (--dist loadfile: its module-scoped fixtures, such as
# generated and published cases, are built once); the fast subset has few such fixtures and
# balances better test by test. test-fast is the inner loop: no PostgreSQL, no browser, no slow
# runs (markers in pyproject.toml).
test: setup
	$(RUN) pytest -q -n 2 --dist loadfile

test-fast: setup
	$(RUN) pytest -q -n 2 -m "not pg and not browser and not slow"

bench: setup
	$(RUN) python benchmarks/bench.py --scale $(or $(SCALE),small)

lint: setup
	$(RUN) ruff check src tests benchmarks
	$(RUN) ruff format --check src tests benchmarks
	$(RUN) lint-imports

format: setup
	$(RUN) ruff format src tests benchmarks
	$(RUN) ruff check --fix src tests benchmarks

clean:
	rm -rf demo .pytest_cache .ruff_cache
