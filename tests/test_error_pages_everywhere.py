"""A 403 or a 400 anywhere of ours is the styled page with the reason and a way back:
someone else's activity page, and admin changelist filters that cannot be applied
(which Django's admin would answer with a redirect to a bare ``?e=1`` page)."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _reason(body: str) -> str:
    found = re.search(r'<p class="error-reason">(.*?)</p>', body, re.S)
    assert found, "not the styled error page"
    return html.unescape(found.group(1))


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", "root@example.com", "pw")


def test_someone_elses_activity_page_is_the_styled_403(user, other_user) -> None:
    response = _client(user).get("/activity/users/bob/")
    assert response.status_code == 403
    body = response.content.decode()
    assert _reason(body) == "You may only view your own activity."
    assert "Not allowed" in body and 'href="/"' in body and "Back to the start page" in body


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("/admin/audit/auditrecord/?created_at__gte=notadate", ["created_at__gte=notadate"]),
        ("/admin/audit/auditrecord/?id__exact=abc", ["id__exact=abc", "expected a number"]),
        ("/admin/audit/auditrecord/?created_at__gte=notadate&e=1", ["created_at__gte"]),
        ("/admin/audit/usersession/?started_at__gte=x", ["started_at__gte=x"]),
        ("/admin/audit/usersession/?uuid__exact=zz", ["uuid__exact=zz", "not a valid UUID"]),
    ],
)
def test_a_bad_admin_filter_is_the_styled_400(superuser, path, names) -> None:
    response = _client(superuser).get(path)
    assert response.status_code == 400  # not a redirect to ?e=1
    body = response.content.decode()
    reason = _reason(body)
    assert reason.startswith("This list cannot be filtered that way")
    assert all(name in reason for name in names), reason
    assert ".." not in reason
    assert "Bad request" in body and "Back to the start page" in body


def test_good_admin_filters_still_work(superuser) -> None:
    client = _client(superuser)
    assert (
        client.get(
            "/admin/audit/auditrecord/?created_at__gte=2026-01-01T00:00:00%2B00:00"
        ).status_code
        == 200
    )
    assert client.get("/admin/audit/auditrecord/?e=1").status_code == 200
    assert client.get("/admin/audit/usersession/?kind__exact=browser").status_code == 200
