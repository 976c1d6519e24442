"""A person signs in and sees their latest activity on the start page."""

from __future__ import annotations

import pytest

from audit import logger
from audit.models import UserSession

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_shows_latest_activity_and_opens_a_session(live_server, page, user) -> None:
    logger.log("query-start", "Ran the sales query", user=user)
    logger.log("viewer-rendered", "Rendered a scatter plot", user=user)

    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    text = page.inner_text("main")
    assert "Rendered a scatter plot" in text and "Ran the sales query" in text
    assert text.index("Rendered a scatter plot") < text.index("Ran the sales query")
    session = UserSession.objects.get(user=user, kind="browser")
    assert session.ended_at is None
    screenshot(page, "home")

    page.click("form.signout button")
    page.wait_for_url(f"{live_server.url}/login/")
    session.refresh_from_db()
    assert session.ended_at is not None


def test_wrong_password_shows_a_clear_message(live_server, page, user) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert "didn't match" in page.inner_text("main")
    screenshot(page, "login-error")
