"""The connection's ``timestamptz`` loader (``audit.time_loader``): psycopg's C parser
where it is installed, the same times Django's own loader gives, and a stand-in for a
time Python cannot hold."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from django.db import connection
from psycopg.pq import Format

from audit import time_loader

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TEXTS = [
    "2026-12-07 10:11:12+00",
    "2026-12-07 10:11:12.5+00",
    "2026-12-07 10:11:12.000001+00",
    "2026-03-29 01:30:00.25+00",
    "0099-03-04 05:06:07.5+00",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    # Django's session is in UTC; were it not, its loader would keep the clock time and
    # put its own zone on it: so must this one.
    "2026-12-07 10:11:12+01",
    "2026-12-07 10:11:12.75-05:30",
]
UNREADABLE = ["0001-12-31 10:00:00+00 BC", "10000-01-01 00:00:00+00", "infinity", "-infinity"]


@pytest.fixture
def loaders() -> tuple[object, object]:
    """The connection's loader and the one Django installed under it."""
    connection.ensure_connection()
    raw = connection.connection
    oid = psycopg.adapters.types["timestamptz"].oid
    installed = raw.adapters.get_loader(oid, Format.TEXT)
    assert getattr(installed, "audit_safe", False)
    django_loader = installed.__mro__[1]  # the loader it wraps
    return installed(oid, raw), django_loader(oid, raw)


def test_it_gives_the_times_djangos_loader_gives(loaders) -> None:
    ours, djangos = loaders
    for text in TEXTS:
        loaded = ours.load(text.encode())
        assert loaded == djangos.load(text.encode()), text
        assert loaded.tzinfo is djangos.timezone, text


def test_it_parses_with_psycopgs_c_loader_where_installed(loaders) -> None:
    ours, _ = loaders
    if psycopg.pq.__impl__ != "binary":
        pytest.skip("psycopg's C implementation is not installed")
    assert ours._parse is not None
    assert type(ours._parse.__self__).__module__.startswith("psycopg_binary")


def test_a_time_python_cannot_hold_loads_as_a_stand_in(loaders) -> None:
    ours, _ = loaders
    found = [ours.load(text.encode()) for text in UNREADABLE]
    early, late = time_loader.EARLIEST, time_loader.LATEST
    # "-infinity" starts with neither "0" nor a year: the last day, as the API writes it
    assert found == [early, late, late, late]


def test_a_query_reads_stored_times_through_it() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT '2026-12-07 10:11:12.25+01'::timestamptz, 'infinity'::timestamptz")
        moment, endless = cursor.fetchone()
    assert moment == datetime(2026, 12, 7, 9, 11, 12, 250000, tzinfo=UTC)
    assert endless == time_loader.LATEST


def test_without_time_zones_it_loads_naive_times_as_djangos_loader_does() -> None:
    """Django's loader for ``USE_TZ = False`` drops the zone (``timezone`` None)."""
    from types import SimpleNamespace

    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.adapt import AdaptersMap

    holder = SimpleNamespace(adapters=AdaptersMap(psycopg.adapters))
    register_tzloader(None, holder)
    time_loader.install(None, SimpleNamespace(vendor="postgresql", connection=holder))
    oid = psycopg.adapters.types["timestamptz"].oid
    loader = holder.adapters.get_loader(oid, Format.TEXT)(oid, None)
    assert loader.load(b"2026-12-07 10:11:12.5+00") == datetime(2026, 12, 7, 10, 11, 12, 500000)
