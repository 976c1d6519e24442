"""A switch changed in one process takes effect in another within a second, through
the shared cache (Redis), without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from audit.models import EventType

ROOT = Path(__file__).resolve().parent.parent

WATCHER = """
import json, sys, time
import django
django.setup()
from django.contrib.auth.models import User
from audit import toggles
user = User.objects.get(pk=int(sys.argv[1]))
assert "dialog-ok" not in toggles.disabled_types(user)
print("ready", flush=True)                      # its caches now hold the old rules
deadline = time.time() + 15
while time.time() < deadline:
    if "dialog-ok" in toggles.disabled_types(user):
        print(f"seen {time.time():.6f}", flush=True)
        sys.exit(0)
    time.sleep(0.01)
print("never seen", flush=True)
sys.exit(1)
"""


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host, port, user = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432, db.get("USER")
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_rule_change_reaches_another_process_within_a_second(user, group) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "auditproj.settings",
    }
    watcher = subprocess.Popen(
        [sys.executable, "-c", WATCHER, str(user.pk)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout.readline().strip() == "ready", watcher.stderr.read()
        time.sleep(0.8)  # past the watcher's local memo: it now reads the shared cache
        changed_at = time.time()
        EventType.objects.get(name="dialog-ok").disabled_for.add(group)
        line = watcher.stdout.readline().strip()
        assert line.startswith("seen"), line + watcher.stderr.read()
        delay = float(line.split()[1]) - changed_at
        assert delay < 1.0, f"took {delay:.3f} s"
    finally:
        watcher.kill()
        watcher.wait()
