# crmpipe: `make demo` and `make test` work on a fresh machine with only Python 3.11 and git.
# uv is bootstrapped into .tools/ (no system changes); dependencies come from uv.lock.

PYTHON ?= python3
TOOLS  := .tools
UV     := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
RUN    := $(UV) run --frozen

.PHONY: setup demo test bench lint format clean

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

setup: $(if $(filter $(TOOLS)/bin/uv,$(UV)),$(TOOLS)/bin/uv)
	$(UV) sync --frozen --quiet

demo: setup
	$(RUN) crmpipe demo pursuit

test: setup
	$(RUN) pytest -q

bench: setup
	$(RUN) python benchmarks/pipeline.py

lint: setup
	$(RUN) ruff check src tests benchmarks
	$(RUN) ruff format --check src tests benchmarks
	$(RUN) lint-imports

format: setup
	$(RUN) ruff format src tests benchmarks
	$(RUN) ruff check --fix src tests benchmarks

clean:
	rm -rf demo .pytest_cache .ruff_cache
