"""One step admits a client's events: every refusal, of every kind, is decided and
collected in ``validation.admit``, by index; storing refuses nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from audit import validation
from audit.context import AuditContext
from audit.models import AuditRecord
from audit.recording import ingest

pytestmark = pytest.mark.django_db


def test_every_kind_of_refusal_comes_from_one_step_in_index_order(user: User, staff: User) -> None:
    batch = [
        {"type": "log", "message": "fine"},
        {"type": "query-edited", "message": "forged"},  # only the server records it
        {"type": 42},  # shape
        {"type": "has space"},  # a name that cannot be a type
        {"type": "log", "entities": [{"type": "user", "id": staff.pk}]},  # not viewable
        {"type": "log", "message": "fine too", "entities": [{"type": "user", "id": user.pk}]},
    ]
    admitted, rejected = validation.admit(batch, user=user, trusted=False)
    assert [index for index, _ in admitted] == [0, 5]
    assert all(event.type_info is not None for _, event in admitted)
    assert [item["index"] for item in rejected] == [1, 2, 3, 4]
    assert [list(item["errors"]) for item in rejected] == [
        ["type"],
        ["type"],
        ["type"],
        ["entities"],
    ]

    result = ingest(batch, ctx=AuditContext(user=user))
    assert result.rejected == rejected
    assert len(result.accepted) == 2
    assert set(AuditRecord.objects.values_list("message", flat=True)) == {"fine", "fine too"}


def test_a_trusted_service_is_admitted_what_a_client_is_not(service: User, staff: User) -> None:
    batch = [
        {"type": "query-edited", "message": "from the platform"},
        {"type": "log", "entities": [{"type": "user", "id": staff.pk}]},
    ]
    admitted, rejected = validation.admit(batch, user=service, trusted=True)
    assert [index for index, _ in admitted] == [0, 1] and rejected == []
