"""The trail's integrity at a glance: what ``GET /api/audit/integrity/`` and the admin
index show.

Four questions an auditor asks before trusting the trail, each answered from one or
two indexed reads so that the admin index can ask them on every visit: how far is the
trail sealed (the latest seal and when it was made), how much is not sealed yet, when
did an outside witness last receive a seal, and when was the chain last recomputed and
with what outcome. Sealing and verifying themselves live in ``audit.seals``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Sum

from .bounded_count import bounded_count
from .models import AuditRecord, Seal
from .seals import state

UNSEALED_CAP = 100_000  # counted up to this, then "more than"


@dataclass(frozen=True)
class Integrity:
    latest: Seal | None
    sealed_records: int  # in the seals kept, i.e. since the anchor
    unsealed: int
    unsealed_capped: bool
    anchor_seal: int | None
    witnessed_seal: int | None
    witnessed_at: datetime | None
    verified_at: datetime | None
    verified_ok: bool | None
    verified_problem: str
    verified_seals: int

    @property
    def witness_behind(self) -> int | None:
        """How many seals were made after the one last witnessed (``None``: never)."""
        if self.latest is None or self.witnessed_seal is None:
            return None
        return Seal.objects.filter(id__gt=self.witnessed_seal).count()

    def as_json(self) -> dict[str, Any]:
        latest = self.latest
        return {
            "latest_seal": None
            if latest is None
            else {
                "id": latest.pk,
                "first_record": latest.first_record_id,
                "last_record": latest.last_record_id,
                "records": latest.records,
                "links": latest.links,
                "digest": latest.digest,
                "previous": latest.previous,
                "created_at": latest.created_at,
                "record": latest.record,
            },
            "sealed_records": self.sealed_records,
            "unsealed_records": self.unsealed,
            "unsealed_capped": self.unsealed_capped,
            "anchor_seal": self.anchor_seal,
            "witnessed": None
            if self.witnessed_at is None
            else {"seal": self.witnessed_seal, "at": self.witnessed_at},
            "verified": None
            if self.verified_at is None
            else {
                "at": self.verified_at,
                "ok": self.verified_ok,
                "problem": self.verified_problem or None,
                "seals": self.verified_seals,
            },
        }


def integrity() -> Integrity:
    current = state()
    latest = Seal.objects.order_by("-id").first()
    sealed_through = latest.last_record_id if latest is not None else 0
    kept = Seal.objects.all()
    if current.anchor_seal is not None:
        kept = kept.filter(id__gte=current.anchor_seal)
    # The seals' own row counts, not a count of the records table.
    sealed = kept.aggregate(total=Sum("records"))["total"] or 0
    unsealed = bounded_count(AuditRecord.objects.filter(id__gt=sealed_through), UNSEALED_CAP)
    return Integrity(
        latest=latest,
        sealed_records=sealed,
        unsealed=int(unsealed),
        unsealed_capped=not unsealed.exact,
        anchor_seal=current.anchor_seal,
        witnessed_seal=current.witnessed_seal,
        witnessed_at=current.witnessed_at,
        verified_at=current.verified_at,
        verified_ok=current.verified_ok,
        verified_problem=current.verified_problem,
        verified_seals=current.verified_seals,
    )
