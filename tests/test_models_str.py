"""``str()`` of the audit models: what the admin, the shell and error messages show."""

from __future__ import annotations

from audit.models import IngestCounter


def test_an_ingest_counter_reads_as_who_what_window_and_count() -> None:
    counter = IngestCounter(
        ident="user:7", what="events", window_start=1_767_225_600, count=42, expires_at=0
    )
    assert str(counter) == "user:7 events at 1767225600: 42"
