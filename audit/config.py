"""The audit app's settings: the one place their names, defaults and bounds are written.

Everything else reads them through the functions below, at call time, so a value set
by ``override_settings`` (or the environment, through the project's ``settings.py``
and ``SETTINGS.from_environment``) is what the code uses. ``audit.checks`` reports a
value of the wrong type or out of bounds by its name; the README's table of settings
is checked against this one by the test suite.
"""

from __future__ import annotations

from .appsettings import AppSettings, Setting

SETTINGS: AppSettings = AppSettings(
    Setting("AUDIT_MAX_BATCH", 1000, "events in one ingest request", minimum=1),
    Setting("AUDIT_MAX_BODY_BYTES", 5 * 1024 * 1024, "size of one ingest body", minimum=1),
    Setting("AUDIT_MAX_PARAMS_BYTES", 16 * 1024, "one event's `params`, as JSON", minimum=1),
    Setting("AUDIT_MAX_PARAMS_DEPTH", 8, "nesting of `params`", minimum=1, maximum=10_000),
    Setting("AUDIT_MAX_MESSAGE_LENGTH", 4096, "characters of `message`", minimum=1),
    Setting("AUDIT_MAX_STACK_TRACE_LENGTH", 32 * 1024, "characters of `stackTrace`", minimum=1),
    Setting("AUDIT_MAX_ENTITIES_PER_EVENT", 50, "entity references of one event", minimum=1),
    Setting(
        "AUDIT_MAX_CUSTOM_TYPES",
        200,
        "custom event types registered on first use, all users together",
        minimum=0,
    ),
    Setting(
        "AUDIT_MAX_CUSTOM_TYPES_PER_USER",
        20,
        "custom event types one user's clients may register",
        minimum=0,
    ),
    Setting(
        "AUDIT_CLIENT_TIME_MAX_AGE_DAYS",
        365,
        "how old a client's `timestamp` may be",
        minimum=1,
        maximum=36_500,
    ),
    Setting(
        "AUDIT_CLIENT_TIME_MAX_AHEAD_SECONDS",
        86400,
        "how far ahead of the server's clock a client's `timestamp` may be",
        minimum=0,
        maximum=366 * 86400,
    ),
    Setting(
        "AUDIT_INGEST_THROTTLE",
        "6000/min",
        "ingest requests per user (`N/sec`, `/min`, `/hour`, `/day`)",
        kind="rate",
    ),
    Setting(
        "AUDIT_INGEST_EVENT_THROTTLE",
        "120000/min",
        "ingested events per user: a batch of 500 costs 500",
        kind="rate",
    ),
    Setting(
        "AUDIT_SERVICE_INGEST_THROTTLE",
        "60000/min",
        "ingest requests per trusted service token",
        kind="rate",
    ),
    Setting(
        "AUDIT_SERVICE_INGEST_EVENT_THROTTLE",
        "3000000/min",
        "ingested events per trusted service token",
        kind="rate",
    ),
    Setting(
        "AUDIT_TOKEN_SESSION_IDLE_SECONDS",
        1800,
        "a token client's session ends after this idle time",
        minimum=1,
    ),
    Setting("AUDIT_RETENTION_DAYS", 365, "default age for `manage.py audit_purge`", minimum=1),
    Setting(
        "AUDIT_SWITCHES_LOCAL_SECONDS",
        0.5,
        "how long a process keeps the switch rules it read before asking the cache again",
        kind="float",
        minimum=0,
        maximum=60,
    ),
    Setting(
        "AUDIT_SWITCHES_CACHE_SECONDS",
        3600,
        "how long the shared cache keeps one generation of the switch rules",
        minimum=1,
    ),
    Setting(
        "AUDIT_EVENT_TYPES_RELOAD_SECONDS",
        60.0,
        "how long a process keeps the event types it read (names, levels, ids)",
        kind="float",
        minimum=0,
    ),
    Setting(
        "AUDIT_DROPPED_FLUSH_SECONDS",
        10.0,
        "how often counts of switched-off events are written to the database",
        kind="float",
        minimum=0.05,
    ),
    Setting(
        "AUDIT_SESSION_TOUCH_SECONDS",
        30,
        "at most one `last_seen` update of a session per this many seconds",
        minimum=1,
    ),
    Setting(
        "AUDIT_CACHE_RETRY_SECONDS",
        5.0,
        "while the shared cache is away, how often a process tries it again",
        kind="float",
        minimum=0.1,
    ),
    Setting(
        "AUDIT_RETRY_AFTER_SECONDS",
        5,
        "`Retry-After` of the 503 answered while the database is away",
        minimum=1,
    ),
    Setting(
        "AUDIT_ADMIN_COUNT_CAP",
        10_000,
        "the admin's lists count matching rows up to this many, then say `10,000+`",
        minimum=100,
    ),
    Setting(
        "AUDIT_PREPARED_STATEMENTS",
        1,
        "1: the activity pages' reads and a tracked save's statement run as server-side "
        "prepared statements on PostgreSQL; 0 for a pooler that cannot carry them",
        minimum=0,
        maximum=1,
    ),
    Setting(
        "AUDIT_DEFERRED_TRACKING",
        1,
        "1: on PostgreSQL a tracked save writes a narrow staged row in its own statement "
        "and its record is stored after commit (before the next read of records, or "
        "within a second by the worker's beat); 0: the record is stored in the save's "
        "statement",
        minimum=0,
        maximum=1,
    ),
)


def max_batch() -> int:
    """Events accepted in one ingest request."""
    return SETTINGS.integer("AUDIT_MAX_BATCH")


def max_body_bytes() -> int:
    """Size of one ingest request body."""
    return SETTINGS.integer("AUDIT_MAX_BODY_BYTES")


def max_params_bytes() -> int:
    """Size of one event's ``params`` once encoded as JSON."""
    return SETTINGS.integer("AUDIT_MAX_PARAMS_BYTES")


def max_params_depth() -> int:
    """Nesting depth of one event's ``params`` (the object itself is depth 1)."""
    return SETTINGS.integer("AUDIT_MAX_PARAMS_DEPTH")


def max_message_length() -> int:
    return SETTINGS.integer("AUDIT_MAX_MESSAGE_LENGTH")


def max_stack_trace_length() -> int:
    return SETTINGS.integer("AUDIT_MAX_STACK_TRACE_LENGTH")


def max_entities_per_event() -> int:
    return SETTINGS.integer("AUDIT_MAX_ENTITIES_PER_EVENT")


def max_custom_types() -> int:
    """Custom event types (``logger.log(..., 'my_log')``) registered on first use."""
    return SETTINGS.integer("AUDIT_MAX_CUSTOM_TYPES")


def max_custom_types_per_user() -> int:
    """Custom event types one user's clients may register: one user cannot use up the
    server's whole budget (``max_custom_types``) and lock everyone else out."""
    return SETTINGS.integer("AUDIT_MAX_CUSTOM_TYPES_PER_USER")


def client_time_max_age_days() -> int:
    """How far back a client's ``timestamp`` may be. Older ones are refused per event:
    a time the server cannot read back (year 1, year 9999) would break every page that
    shows the record, for good, since records cannot be changed."""
    return SETTINGS.integer("AUDIT_CLIENT_TIME_MAX_AGE_DAYS")


def client_time_max_ahead_seconds() -> int:
    """How far ahead of the server's clock a client's ``timestamp`` may be."""
    return SETTINGS.integer("AUDIT_CLIENT_TIME_MAX_AHEAD_SECONDS")


def ingest_request_rate() -> str:
    """Ingest requests per user, as ``N/sec|min|hour|day``."""
    return SETTINGS.text("AUDIT_INGEST_THROTTLE")


def ingest_event_rate() -> str:
    """Ingested events per user: a request of 1,000 events costs 1,000 of this budget."""
    return SETTINGS.text("AUDIT_INGEST_EVENT_THROTTLE")


def service_request_rate() -> str:
    """Ingest requests per trusted service token (``audit.trust``)."""
    return SETTINGS.text("AUDIT_SERVICE_INGEST_THROTTLE")


def service_event_rate() -> str:
    """Ingested events per trusted service token: a service posts for many users."""
    return SETTINGS.text("AUDIT_SERVICE_INGEST_EVENT_THROTTLE")


def token_session_idle_seconds() -> int:
    """A token client's session ends after this long without a request."""
    return SETTINGS.integer("AUDIT_TOKEN_SESSION_IDLE_SECONDS")


def retention_days() -> int:
    """Default age after which ``audit_purge`` removes records."""
    return SETTINGS.integer("AUDIT_RETENTION_DAYS")


def switches_local_seconds() -> float:
    """How long a process trusts the switch rules it read: the delay before a change
    made elsewhere applies here (after its commit raised the generation)."""
    return SETTINGS.number("AUDIT_SWITCHES_LOCAL_SECONDS")


def switches_cache_seconds() -> int:
    return SETTINGS.integer("AUDIT_SWITCHES_CACHE_SECONDS")


def event_types_reload_seconds() -> float:
    """Event types change rarely; a new custom type is added to the process's table when
    it is made, so this only bounds how long a level changed elsewhere takes to apply."""
    return SETTINGS.number("AUDIT_EVENT_TYPES_RELOAD_SECONDS")


def dropped_flush_seconds() -> float:
    return SETTINGS.number("AUDIT_DROPPED_FLUSH_SECONDS")


def session_touch_seconds() -> int:
    return SETTINGS.integer("AUDIT_SESSION_TOUCH_SECONDS")


def cache_retry_seconds() -> float:
    return SETTINGS.number("AUDIT_CACHE_RETRY_SECONDS")


def retry_after_seconds() -> int:
    return SETTINGS.integer("AUDIT_RETRY_AFTER_SECONDS")


def admin_count_cap() -> int:
    return SETTINGS.integer("AUDIT_ADMIN_COUNT_CAP")


def prepared_statements() -> bool:
    """Whether ``audit.prepared`` prepares the activity pages' reads and a tracked
    save's statement."""
    return SETTINGS.integer("AUDIT_PREPARED_STATEMENTS") == 1


def deferred_tracking() -> bool:
    """Whether a tracked save stages its change for ``audit.staged.drain`` (the default)
    rather than storing its record in its own statement."""
    return SETTINGS.integer("AUDIT_DEFERRED_TRACKING") == 1


def limits() -> dict[str, int]:
    """The limits a client needs to know, as the config endpoint reports them."""
    return {
        "max_batch": max_batch(),
        "max_body_bytes": max_body_bytes(),
        "max_params_bytes": max_params_bytes(),
        "max_params_depth": max_params_depth(),
        "max_message_length": max_message_length(),
        "max_stack_trace_length": max_stack_trace_length(),
        "max_entities_per_event": max_entities_per_event(),
    }
