"""The binding of user and session is right under concurrent threads and coroutines."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connections
from django.test import AsyncClient
from rest_framework.authtoken.models import Token

from audit.context import AuditContext, bind, current
from audit.models import AuditRecord


def _run(coroutine):
    """asyncio.run in a thread of its own: the browser tests' Playwright loop may be
    running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_contexts_do_not_leak_between_threads() -> None:
    seen: dict[int, str] = {}
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        with bind(AuditContext(request_id=f"req-{n}")):
            barrier.wait()  # all threads are inside their own binding at once
            seen[n] = current().request_id

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert seen == {n: f"req-{n}" for n in range(8)}
    assert current() is None


def test_contexts_do_not_leak_between_coroutines() -> None:
    async def work(n: int) -> str:
        with bind(AuditContext(request_id=f"req-{n}")):
            await asyncio.sleep(0.01 * (8 - n))
            return current().request_id

    async def main() -> list[str]:
        return await asyncio.gather(*(work(n) for n in range(8)))

    assert _run(main()) == [f"req-{n}" for n in range(8)]


def _users_with_tokens(count: int) -> list[tuple[User, str]]:
    out = []
    for n in range(count):
        user = User.objects.create_user(f"user{n}", password="x")
        out.append((user, Token.objects.create(user=user).key))
    return out


@pytest.mark.django_db(transaction=True)
def test_concurrent_http_requests_record_for_their_own_user(live_server) -> None:
    users = _users_with_tokens(6)

    def post(pair: tuple[User, str], n: int) -> list[int]:
        body = json.dumps([{"message": f"{pair[0].username} #{n}"}] * 3).encode()
        request = urllib.request.Request(
            f"{live_server.url}/api/audit/events/",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Token {pair[1]}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["accepted"]

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(post, pair, n) for n in range(4) for pair in users]
        for future in futures:
            assert len(future.result()) == 3
    for user, _ in users:
        records = AuditRecord.objects.filter(user=user)
        assert records.count() == 12
        assert all(r.message.startswith(f"{user.username} #") for r in records)
        assert {r.session.user_id for r in records} == {user.pk}


@pytest.mark.django_db(transaction=True)
def test_concurrent_async_requests_record_for_their_own_user() -> None:
    _run(_async_requests())


async def _async_requests() -> None:
    users = await sync_to_async(_users_with_tokens)(5)

    async def post(user: User, key: str) -> int:
        response = await AsyncClient().post(
            "/api/audit/events/",
            data=json.dumps({"message": user.username}),
            content_type="application/json",
            headers={"Authorization": f"Token {key}"},
        )
        assert response.status_code == 202, response.content
        return response.json()["accepted"][0]

    ids = await asyncio.gather(*(post(user, key) for user, key in users for _ in range(3)))

    def check() -> None:
        for record in AuditRecord.objects.filter(pk__in=ids).select_related("session"):
            owner = User.objects.get(pk=record.user_id)
            assert record.message == owner.username
            assert record.session.user_id == owner.pk

    await sync_to_async(check)()
    # The sync parts ran in asgiref's thread, whose connection the test's teardown
    # cannot see: closed here, or it outlives the suite and holds the test database.
    await sync_to_async(connections.close_all)()
