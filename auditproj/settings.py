"""Settings for the audit system, read from the environment (twelve-factor).

Every value a deployment may change comes from an environment variable read through
``auditproj.env``; the defaults give a working single-machine setup (SQLite, eager
Celery tasks, local-memory cache) so that ``make run`` needs no outside service.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from audit import SETTINGS as AUDIT_CONFIG
from cloudwatch_export.config import SETTINGS as EXPORT_CONFIG

from . import env

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env.flag("DEBUG", default=False)
# A fixed development key keeps `make run` working with nothing set; it is public, so
# cloudwatch_export refuses to encrypt a secret under it with DEBUG off, and
# `manage.py check --deploy` warns.
AUDIT_DEVELOPMENT_SECRET_KEY = "dev-insecure-audit-system-key-change-me"
SECRET_KEY = env.text("SECRET_KEY") or AUDIT_DEVELOPMENT_SECRET_KEY
ALLOWED_HOSTS = env.csv("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env.csv("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "audit",
    "activity",
    "catalog",
    "cloudwatch_export",
    "analysis",
    "demo",
]

MIDDLEWARE = [
    # First: a NUL in a path, query, header or cookie is a 400 before anything looks it up.
    "audit.middleware_input.RefuseNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "auditproj.urls"
WSGI_APPLICATION = "auditproj.wsgi.application"
ASGI_APPLICATION = "auditproj.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env.text("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env.integer("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Concurrent writers wait for the lock instead of failing ("database is locked"):
    # IMMEDIATE takes the write lock when a transaction starts, so two writers never
    # deadlock upgrading read locks, and the timeout lets the second one wait.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    # A file, not Django's shared in-memory database, whose table locks would fail
    # the concurrent-request tests instead of waiting; one per test run (process).
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.text("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.text("CACHE_KEY_PREFIX", "audit"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}
# Serve from the finders when collectstatic has not run (tests, first start).
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the browser logger reads it to post events
SECURE_CONTENT_TYPE_NOSNIFF = True

REST_FRAMEWORK = {
    # Token first: an unauthenticated API call then gets 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Non-ASCII written as escapes: an error that quotes a client's lone surrogate back
    # (a bad choice of level) cannot be UTF-8, and was a 500.
    "UNICODE_JSON": False,
    # DRF's own, but for JSON nested too deeply to decode: a 400 rather than a 500.
    "DEFAULT_PARSER_CLASSES": [
        "audit.api.parsing.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # A database away for a moment is a 503 with Retry-After, not a 500.
    "EXCEPTION_HANDLER": "audit.unavailable.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Audit system API",
    "DESCRIPTION": "Record, read and configure the audit trail of the data platform.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed sidecar package: the docs page works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Celery: with REDIS_URL it is the broker and result backend; without it tasks run
# eagerly in the calling process so that a single-machine setup needs nothing else.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE = {
    "audit-flush-dropped-counts": {"task": "audit.flush_dropped_counts", "schedule": 10.0},
    # Stores the records of staged changes (AUDIT_DEFERRED_TRACKING) that no reader has
    # settled yet; a missed tick expires, the next does its work.
    "audit-drain-staged": {
        "task": "audit.drain_staged",
        "schedule": 1.0,
        "options": {"expires": 1.0},
    },
    # Seals what was stored in the last minute (audit.seals); a seal's digest leaves for
    # the CloudWatch witness with the next export.
    "audit-seal": {"task": "audit.seal", "schedule": 60.0, "options": {"expires": 60.0}},
    # Folds the analysis deltas into the rollups (answers fold too, so this only keeps
    # the deltas few); an unrun tick expires, the next one does the same work.
    "analysis-fold": {"task": "analysis.fold", "schedule": 2.0, "options": {"expires": 2.0}},
    # Drains the CloudWatch outbox; a tick left unrun by a busy worker expires rather
    # than piling up behind it (the next tick does the same work).
    "cloudwatch-export-drain": {
        "task": "cloudwatch_export.drain",
        "schedule": float(env.integer("CLOUDWATCH_EXPORT_INTERVAL", 5)),
        "options": {"expires": float(env.integer("CLOUDWATCH_EXPORT_INTERVAL", 5))},
    },
}

# The apps' own settings (AUDIT_*, CLOUDWATCH_EXPORT_*): each app writes their defaults
# and bounds once, in its config module, and reads them there; here only what the
# environment sets is taken, as text (the apps parse it, and `manage.py check` names a
# value that cannot be used).
globals().update(AUDIT_CONFIG.from_environment(env.text))
globals().update(EXPORT_CONFIG.from_environment(env.text))

# Django refuses bodies over this before our view sees them; keep it at or above
# the audit body limit so that the ingest view answers the clear 413 itself.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(
    AUDIT_CONFIG.value_in(globals(), "AUDIT_MAX_BODY_BYTES"), 2_621_440
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.text("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
