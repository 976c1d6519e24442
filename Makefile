# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run serve test test-browser test-sqlite lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

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

## test: the whole suite (PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set)
test: install
	$(BIN)/pytest

## test-browser: only the tests that drive Debian's Chromium
test-browser: install
	$(BIN)/pytest -m browser

## test-sqlite: the suite on SQLite and the local-memory cache, whatever the environment says
test-sqlite: install
	env -u DATABASE_URL -u REDIS_URL $(BIN)/pytest -m "not browser"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: the benchmarks under bench/ (need DATABASE_URL on PostgreSQL)
bench: install
	$(BIN)/python bench/ingest.py --rules
	$(BIN)/python bench/tracking.py
	$(BIN)/python bench/activity.py
	$(BIN)/python bench/export.py

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 .pytest_cache

.PHONY: worker beat

## worker: a Celery worker on REDIS_URL (runs the CloudWatch export among other tasks)
worker: install
	$(BIN)/celery -A auditproj worker --loglevel INFO

## beat: the Celery scheduler on REDIS_URL (drains the CloudWatch outbox every 5 s)
beat: install
	$(BIN)/celery -A auditproj beat --loglevel INFO --schedule $(VENV)/celerybeat-schedule
