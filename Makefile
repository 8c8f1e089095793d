# Two commands a newcomer needs (see README):
#   make run   - create .venv from the lock file, migrate the database, start the bot
#   make test  - create .venv with test tools from the lock file, run ruff and every test
#                (and, when TEST_DATABASE_URL names a PostgreSQL server, the database layers
#                again on it)
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
	@# The PostgreSQL pass runs beside the SQLite one: e2e tests mostly wait on the bot.
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  ( $(BIN)/python -m pytest -p no:cacheprovider --basetemp=/tmp/pytest-pg-pass \
	      --durations=10 tests/handlers tests/integration $(PG_E2E) > .pg-pass.log 2>&1; \
	    echo $$? > .pg-pass.rc ) & \
	fi; \
	env -u TEST_DATABASE_URL $(BIN)/python -m pytest --durations=10; sqlite=$$?; \
	pg=0; if [ -n "$$TEST_DATABASE_URL" ]; then \
	  wait; \
	  echo "== handlers, integration and the database-heavy e2e on PostgreSQL ($${TEST_DATABASE_URL##*@})"; \
	  cat .pg-pass.log; pg=$$(cat .pg-pass.rc); \
	fi; \
	test $$sqlite -eq 0 && test $$pg -eq 0

# End-to-end files run again on PostgreSQL: the ones about concurrency, crashes, outages
# and whole flows. The phone, bad-input, records and Plh e2e files run on SQLite only (their
# database work is covered on PostgreSQL by the handler and integration layers), to keep CI
# under 30 minutes on a 2-core machine.
PG_E2E := tests/e2e/test_postgres.py tests/e2e/test_time_and_faults.py \
	tests/e2e/test_crash_instants.py tests/e2e/test_webhook.py tests/e2e/test_sop_flows.py \
	tests/e2e/test_office.py

# The whole stack against a bare PTB bot, the digest, memory and the due-scan (~10 min);
# BENCH_ARGS for a quick look, e.g. make bench BENCH_ARGS="--reps 1 --seconds 2".
bench: $(VENV)/.dev
	$(BIN)/python -m bench.stack $(BENCH_ARGS)

clean:
	rm -rf $(VENV)
