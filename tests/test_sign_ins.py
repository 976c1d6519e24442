"""Sign-ins, sign-outs, failed sign-ins and API tokens are recorded on every path, by
the server (clients cannot post these types), and never with a password or a key."""

from __future__ import annotations

import io

from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from audit.models import AuditRecord, UserSession

AGENT = "Mozilla/5.0 (sign-in test)"


def _sign_in(client: Client, path: str, username: str, password: str) -> None:
    client.post(
        path,
        {"username": username, "password": password, "next": "/"},
        HTTP_USER_AGENT=AGENT,
        REMOTE_ADDR="203.0.113.7",
    )


def test_signing_in_and_out_on_the_sign_in_page_is_recorded(user: User) -> None:
    client = Client()
    _sign_in(client, "/login/", "alice", "alice-password")
    signed_in = AuditRecord.objects.get(type__name="user-signed-in")
    assert signed_in.user == user and signed_in.source == "server"
    assert signed_in.session.kind == "browser" and signed_in.session.user == user
    assert signed_in.params == {"ip": "203.0.113.7", "user_agent": AGENT}
    assert signed_in.message == "Signed in via the sign-in page"
    assert [(link.object_id, link.name) for link in signed_in.links.all()] == [
        (str(user.pk), "alice")
    ]
    client.post("/logout/", REMOTE_ADDR="203.0.113.7")
    signed_out = AuditRecord.objects.get(type__name="user-signed-out")
    assert signed_out.session_id == signed_in.session_id  # the session that ended
    assert UserSession.objects.get(pk=signed_in.session_id).ended_at is not None


def test_the_admin_sign_in_is_recorded_too(staff: User) -> None:
    _sign_in(Client(), "/admin/login/", "admin", "admin-password")
    record = AuditRecord.objects.get(type__name="user-signed-in")
    assert record.user == staff and record.message == "Signed in via the admin"


def test_a_failed_sign_in_keeps_the_name_tried_never_the_password(user: User) -> None:
    _sign_in(Client(), "/login/", "alice", "not-her-Passw0rd")
    record = AuditRecord.objects.get(type__name="user-sign-in-failed")
    assert record.user_id is None
    assert record.params == {
        "username": "alice",
        "ip": "203.0.113.7",
        "via": "the sign-in page",
        "user_agent": AGENT,
    }
    stored = str(record.params) + record.message + record.stack_trace
    assert "not-her-Passw0rd" not in stored
    assert not record.links.exists()  # says nothing of whether "alice" exists


def test_tokens_made_and_removed_are_recorded_without_the_key(user: User, staff: User) -> None:
    call_command("drf_create_token", "alice", stdout=io.StringIO())
    token = Token.objects.get(user=user)
    created = AuditRecord.objects.get(type__name="token-created")
    assert created.params == {"owner": "alice"}
    assert [link.object_id for link in created.links.all()] == [str(user.pk)]
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    admin = Client()
    admin.force_login(root)
    answer = admin.post(
        f"/admin/authtoken/tokenproxy/{user.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert answer.status_code == 200
    deleted = AuditRecord.objects.get(type__name="token-deleted")
    assert deleted.user == root
    for record in (created, deleted):
        assert token.key not in str(record.params) + record.message


def test_the_users_page_and_the_session_timeline_show_the_sign_in(user: User) -> None:
    client = Client()
    _sign_in(client, "/login/", "alice", "alice-password")
    record = AuditRecord.objects.get(type__name="user-signed-in")
    page = client.get("/activity/users/alice/").content.decode()
    assert "signed in" in page and "203.0.113.7" in page
    timeline = client.get(f"/activity/sessions/{record.session.uuid}/").content.decode()
    assert "signed in" in timeline
