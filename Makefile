# The two commands of the README, each doing its own set-up on a fresh machine:
#   make demo   - venv + install + sample data, then materialize every sample source for 3 days
#                 (sampledata/api_server.py serves the sample REST API while the command runs), then the
#                 project's Gold asset (gold/, merged into the code location by definitions.py)
#   make test   - venv + install, then the whole test suite
# and `make ui` (PORT=3000) to open the Dagster UI on the same instance the CLI uses; `make test-fast` runs
# the unit, config and Silver tests (no Dagster runs, no services) in under two minutes.

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_START ?= 2025-01-01
DEMO_END ?= 2025-01-03
PORT ?= 3000
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install sampledata demo test test-fast ui lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

sampledata: $(STAMP)
	$(PY) sampledata/generate.py

demo: sampledata
	mkdir -p $(DAGSTER_HOME) && ([ -f $(DAGSTER_HOME)/dagster.yaml ] || cp deploy/dagster.yaml $(DAGSTER_HOME)/)
	$(VENV)/bin/medallion validate
	$(PY) sampledata/api_server.py -- $(VENV)/bin/medallion run --date $(DEMO_START) --end-date $(DEMO_END)
	@echo ""
	$(PY) -m gold --date $(DEMO_START) --end-date $(DEMO_END)
	@echo ""
	@echo "Lake written under $${MEDALLION_LAKE_DIR:-./lake} (bronze/ and silver/). Try:"
	@echo "  $(VENV)/bin/medallion inspect retail_orders --date $(DEMO_START)"
	@echo "  $(VENV)/bin/medallion verify retail_orders --date $(DEMO_START)"
	@echo "  $(PY) -c 'import medallion_assets; print(medallion_assets.read(\"retail_orders\").collect())'"
	@echo "  make ui    # Dagster UI on http://127.0.0.1:$(PORT) (make ui PORT=3001 for another port)"

test: $(STAMP)
	$(PY) -m pytest -n 3 $(PYTEST_ARGS)

# The inner loop: config, Silver models, storage and HTTP units, redaction and docs; nothing that starts
# Dagster runs, subprocesses or services (`slow`/`services` markers).
test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -m "not slow and not services" tests/config tests/silver tests/resources tests/docs \
		tests/storage tests/http tests/extractors $(PYTEST_ARGS)

ui: sampledata
	mkdir -p $(DAGSTER_HOME) && ([ -f $(DAGSTER_HOME)/dagster.yaml ] || cp deploy/dagster.yaml $(DAGSTER_HOME)/)
	$(PY) sampledata/api_server.py -- $(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(PORT)

lint: $(STAMP)
	$(VENV)/bin/ruff check medallion_assets medallion_resources tests sampledata benchmarks gold definitions.py
	$(VENV)/bin/ruff format --check medallion_assets medallion_resources tests sampledata benchmarks gold definitions.py
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict -p medallion_resources
	$(VENV)/bin/mypy benchmarks
	$(VENV)/bin/lint-imports

clean:
	rm -rf lake .dagster_home sampledata/generated
