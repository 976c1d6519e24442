# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# schemathesis (tests/test_schemathesis.py) runs from a venv of its own on Python 3.12:
# its coverage phase crashes on CPython 3.11.7. Its pinned version is in
# requirements-schemathesis.txt. Without a Python 3.12 the test skips.
PYTHON312 ?= $(or $(shell ls -d /root/.pyenv/versions/3.12*/bin/python 2>/dev/null | tail -1),$(shell command -v python3.12 2>/dev/null))
VENV_ST := .venv-schemathesis
ST_STAMP := $(VENV_ST)/.installed
# The suite's prerequisites: the schemathesis venv only where a Python 3.12 exists.
TEST_DEPS := $(STAMP) $(if $(PYTHON312),$(ST_STAMP))

.PHONY: install run serve test test-browser test-sqlite lint format typecheck migrations-check bench bench-smoke clean schemathesis-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(ST_STAMP): requirements-schemathesis.txt
	@test -n "$(PYTHON312)" || { echo "schemathesis needs Python 3.12: set PYTHON312=/path/to/python3.12"; exit 1; }
	test -x $(VENV_ST)/bin/python || $(PYTHON312) -m venv $(VENV_ST)
	$(VENV_ST)/bin/python -m pip install -q --upgrade pip
	$(VENV_ST)/bin/python -m pip install -q -r requirements-schemathesis.txt
	touch $(ST_STAMP)

## schemathesis-venv: the schemathesis CLI in .venv-schemathesis (Python 3.12)
schemathesis-venv: $(ST_STAMP)

## run: install, migrate, seed the demo and serve on http://127.0.0.1:8000
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver 127.0.0.1:8000

## serve: the production server: static files, migrations, then gunicorn with gunicorn.conf.py
## (gthread workers; BIND/PORT, GUNICORN_WORKERS, GUNICORN_THREADS, ... from the environment)
serve: install
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py migrate --noinput
	exec $(BIN)/gunicorn auditproj.wsgi

## test: the whole suite (PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set);
## PYTEST_ARGS adds options (CI: coverage with its floor)
test: $(TEST_DEPS)
	$(BIN)/pytest $(PYTEST_ARGS)

## test-browser: only the tests that drive Debian's Chromium
test-browser: install
	$(BIN)/pytest -m browser

## test-sqlite: the suite on SQLite and the local-memory cache, whatever the environment says
test-sqlite: $(TEST_DEPS)
	env -u DATABASE_URL -u REDIS_URL -u AUDIT_TEST_OWNER_URL $(BIN)/pytest -m "not browser" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## typecheck: mypy over every app (strict on audit; see pyproject.toml)
typecheck: install
	$(BIN)/mypy audit activity catalog cloudwatch_export analysis demo auditproj
	$(BIN)/mypy bench/*.py

## migrations-check: the models and the migrations agree (no migration missing)
migrations-check: install
	$(BIN)/python manage.py makemigrations --check --dry-run

# The peers bench/tracking_peers.py compares with: the bench extra, never a runtime
# dependency (and never in auditproj's INSTALLED_APPS).
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $(BENCH_STAMP)

## bench: the benchmarks under bench/ (need DATABASE_URL on PostgreSQL)
bench: install $(BENCH_STAMP)
	$(BIN)/python bench/ingest.py --rules --sealing 3 --at-size 10000000
	$(BIN)/python bench/tracking.py
	$(BIN)/python bench/tracking_profile.py
	$(BIN)/python bench/tracking_peers.py
	$(BIN)/python bench/activity.py
	$(BIN)/python bench/activity_http.py
	$(BIN)/python bench/export.py
	$(BIN)/python bench/analysis.py
	$(BIN)/python bench/seal_forms.py
	$(BIN)/python bench/analysis.py --only-ingest

## bench-smoke: every benchmark at a small size, a few minutes in all: each still checks
## what it measured (every event stored, every save recorded, every answer right), so CI
## runs it to keep the benchmarks working; the figures mean little at this size
bench-smoke: install $(BENCH_STAMP)
	$(BIN)/python bench/ingest.py --events 5000 --sealing 1
	$(BIN)/python bench/tracking.py --objects 20 --rounds 2
	$(BIN)/python bench/tracking_profile.py --calls 200 --rounds 2
	$(BIN)/python bench/tracking_peers.py --quick
	$(BIN)/python bench/activity.py --quick
	$(BIN)/python bench/activity_http.py --quick
	$(BIN)/python bench/export.py --records 5000 --ingest-records 5000 --rounds 1
	$(BIN)/python bench/analysis.py --quick
	$(BIN)/python bench/seal_forms.py --records 10000 --rounds 1

clean:
	rm -rf $(VENV) $(VENV_ST) staticfiles db.sqlite3 .pytest_cache

.PHONY: worker beat

## worker: a Celery worker on REDIS_URL (runs the CloudWatch export among other tasks)
worker: install
	$(BIN)/celery -A auditproj worker --loglevel INFO

## beat: the Celery scheduler on REDIS_URL (drains the CloudWatch outbox every 5 s)
beat: install
	$(BIN)/celery -A auditproj beat --loglevel INFO --schedule $(VENV)/celerybeat-schedule
