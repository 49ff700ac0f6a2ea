# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test test-slow install install-dev bench bench-load bench-scale demo clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $@

install: $(STAMP)
install-dev: $(DEVSTAMP)

## make run: set up, initialise var/realty.sqlite3, load demo data on first run, run the main job
run: $(STAMP)
	$(BIN)/realty run

## make test: set up with the dev extra (and Debian's chromium for the console's browser tests, when
## this user may install it) and run the whole suite (SQLite and PostgreSQL)
test: $(DEVSTAMP)
	bash .ci/install-browser
	$(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

## make test-slow: the tests marked slow (none today: every reliability test fits in `make test`);
## pytest's exit 5 ("no tests collected") is not a failure here
test-slow: $(DEVSTAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS) || [ $$? -eq 5 ]

bench: $(DEVSTAMP)
	$(BIN)/python benchmarks/append.py --backend sqlite
	$(BIN)/python benchmarks/append.py --backend postgres
	$(BIN)/python benchmarks/verify.py --backend sqlite
	$(BIN)/python benchmarks/verify.py --backend postgres
	$(BIN)/python benchmarks/projections.py --backend sqlite
	$(BIN)/python benchmarks/projections.py --backend postgres

## make bench-load: two API processes under an open-loop mixed load (PostgreSQL; ≈ 6 min)
bench-load: $(DEVSTAMP)
	$(BIN)/python benchmarks/load.py

## make bench-scale: the same figures on a 10-million-event PostgreSQL log and an empty one (≈ 1 h)
bench-scale: $(DEVSTAMP)
	$(BIN)/python benchmarks/scale.py

clean:
	rm -rf $(VENV) var .pytest_cache
