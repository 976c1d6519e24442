"""The outbox receiver for databases other than PostgreSQL (SQLite in development).

``records_stored`` is sent inside the transaction that stored the records, so the
outbox rows commit or roll back with them. The map is read on every call: a change of
the map applies to records stored from then on.
"""

from __future__ import annotations

from typing import Any

from audit import StoredRecord

from . import outbox


def enqueue_stored(sender: Any, records: list[StoredRecord], **kwargs: Any) -> None:
    outbox.enqueue(records)
