# Two commands a newcomer needs (see README):
#   make run   - create .venv from the lock file, migrate the database, start the bot
#   make test  - create .venv with test tools from the lock file, run ruff and every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime
	$(BIN)/python -m bot run

test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(VENV)/.dev
	$(BIN)/python bench/due_scan.py

clean:
	rm -rf $(VENV)
