"""Under faults, with the real parts: several gunicorn workers, a Redis of the test's own
stopped and started mid-test, a database that cannot be reached."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission, User
from rest_framework.authtoken.models import Token

from audit.models import AuditRecord

from .live_servers import free_port, gunicorn, redis_server

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


def _batch(n: int, type_name: str = "log") -> list[dict[str, str]]:
    return [{"type": type_name, "id": str(uuid.uuid4()), "message": f"m{i}"} for i in range(n)]


@pytest.mark.django_db(transaction=True)
def test_ingest_and_switches_keep_working_while_redis_is_away(tmp_path: Path) -> None:
    member = User.objects.create_user("alice", "a@example.com", "pw")
    viewers = Group.objects.create(name="viewers")
    member.groups.add(viewers)
    admin = User.objects.create_user("admin", "admin@example.com", "pw", is_staff=True)
    admin.user_permissions.add(Permission.objects.get(codename="change_eventtype"))
    headers = {"Authorization": f"Token {Token.objects.create(user=member).key}"}
    admin_headers = {"Authorization": f"Token {Token.objects.create(user=admin).key}"}
    sent: list[str] = []

    def post(client, events) -> None:
        answer = client.post("/api/audit/events/", json=events, headers=headers)
        assert answer.status_code == 202, answer.text
        sent.extend(event["id"] for event in events)

    def switch(client, groups: list[str]) -> None:
        answer = client.patch(
            "/api/audit/event-types/dialog-ok/",
            json={"disabled_for_groups": groups},
            headers=admin_headers,
        )
        assert answer.status_code == 200, answer.text

    def dropped_soon(client, expected: bool) -> None:
        """Within a second and a half, the member's dialog-ok events are (not) dropped."""
        deadline = time.time() + 1.5
        while True:
            events = _batch(1, "dialog-ok")
            answer = client.post("/api/audit/events/", json=events, headers=headers).json()
            if (answer["disabled"] == 1) == expected:
                if not expected:
                    sent.extend(event["id"] for event in events)
                return
            assert time.time() < deadline, f"the switch did not take effect ({answer})"
            time.sleep(0.1)

    with redis_server() as redis, gunicorn(tmp_path, workers=3, REDIS_URL=redis.url) as server:
        with server.client() as client:
            for _ in range(3):
                post(client, _batch(20))
            switch(client, ["viewers"])
            dropped_soon(client, True)

            redis.stop()
            for _ in range(10):  # every worker meets the outage
                post(client, _batch(20))
            switch(client, [])
            dropped_soon(client, False)
            switch(client, ["viewers"])
            dropped_soon(client, True)

            redis.start()
            time.sleep(5.5)  # past the guard's retry interval: the cache is used again
            for _ in range(3):
                post(client, _batch(20))
            switch(client, [])
            dropped_soon(client, False)
        log = server.output()

    stored = AuditRecord.objects.filter(uuid__in=sent).count()
    assert stored == len(sent)  # nothing lost, nothing twice
    assert "Internal Server Error" not in log
    warnings = log.count("The shared cache is unavailable")
    assert 1 <= warnings <= 3, log  # once per worker that met the outage, not per request


@pytest.mark.django_db(transaction=True)
def test_a_database_that_is_away_answers_503_with_retry_after(tmp_path: Path) -> None:
    """Every path, the API and the pages, says "retry shortly" rather than 500."""
    port = free_port()  # nothing listens there
    unreachable = f"postgres://postgres@127.0.0.1:{port}/audit"
    with (
        gunicorn(tmp_path, workers=1, DATABASE_URL=unreachable, REDIS_URL="") as server,
        server.client(cookies={"sessionid": "x" * 32}) as client,
    ):
        answers = [
            client.post(
                "/api/audit/events/",
                json=_batch(1),
                headers={"Authorization": "Token 0123456789abcdef0123456789abcdef01234567"},
            ),
            client.get("/api/audit/events/", headers={"Authorization": "Token abc"}),
            client.get("/"),
            client.get("/admin/"),
        ]
    for answer in answers:
        assert answer.status_code == 503, (answer.request.url, answer.text[:300])
        assert answer.headers["Retry-After"] == "5"
        assert "unavailable for a moment" in answer.text
    assert answers[0].json()["detail"].startswith("The database is unavailable")
