# The two commands a new user needs: `make demo` and `make test`. Both create .venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Starts afresh in .demo/ each time (data, database, charts); writes nothing else.
demo: $(STAMP)
	$(BIN)/spendwatch demo --workdir .demo

# one worker per core (pytest-xdist): each has its own PostgreSQL server and free ports
test: $(STAMP)
	$(BIN)/python -m pytest -n auto

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy bot storage
	$(BIN)/hadolint Dockerfile deploy/postgres.Dockerfile

bench: $(STAMP)
	$(BIN)/python bench/ingest.py --rows 1000000 --repeat 3

# also what demos before .demo/ left in the repository root
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info .demo
	rm -rf demo-data spendwatch-demo.db spendwatch-demo.db-wal spendwatch-demo.db-shm \
		console-*-chart.png
