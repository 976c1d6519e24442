"""A switch changed in one process takes effect in another within a second, through
the shared cache (Redis), without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from audit.config import switches_local_seconds
from audit.models import EventType

from .live_servers import database_url

ROOT = Path(__file__).resolve().parent.parent

WATCHER = """
import json, sys, time
import django
django.setup()
from django.contrib.auth.models import User
from audit import switch_rules
user = User.objects.get(pk=int(sys.argv[1]))
assert "dialog-ok" not in switch_rules.disabled_types(user)
print("ready", flush=True)                      # its caches now hold the old rules
deadline = time.time() + 15
while time.time() < deadline:
    if "dialog-ok" in switch_rules.disabled_types(user):
        print(f"seen {time.time():.6f}", flush=True)
        sys.exit(0)
    time.sleep(0.01)
print("never seen", flush=True)
sys.exit(1)
"""


def _django_process(script: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """Another process of the project on the test database, running ``script``."""
    env = {**os.environ, "DATABASE_URL": database_url()}
    env["DJANGO_SETTINGS_MODULE"] = "auditproj.settings"
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_rule_change_reaches_another_process_within_a_second(user, group) -> None:
    watcher = _django_process(WATCHER, str(user.pk))
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


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_change_made_while_this_process_could_not_reach_the_cache_still_arrives(
    user, group
) -> None:
    """The process that served the change could not start a new generation (its cache
    had just failed); another process, whose cache never failed, kept serving the old
    rules for as long as they are kept (an hour). The new generation is owed, and
    started as soon as this process reads the rules with its cache back."""
    import redis

    from audit import shared_cache, switch_rules

    watcher = _django_process(WATCHER, str(user.pk))
    try:
        assert watcher.stdout.readline().strip() == "ready", watcher.stderr.read()
        time.sleep(0.8)  # past the watcher's local memo: it now reads the shared cache
        shared_cache._mark_down(redis.exceptions.ConnectionError("a moment away"))
        EventType.objects.get(name="dialog-ok").disabled_for.add(group)
        shared_cache.reset()  # back: the next read of the rules here starts the generation
        switch_rules.clear_local()
        assert "dialog-ok" in switch_rules.disabled_types(user)
        line = watcher.stdout.readline().strip()
        assert line.startswith("seen"), line + watcher.stderr.read()
    finally:
        watcher.kill()
        watcher.wait()
        shared_cache.reset()


READER = """
import sys, time
import django
django.setup()
from django.contrib.auth.models import User
from audit import switch_rules
user = User.objects.get(pk=int(sys.argv[1]))
state = None
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    now = "off" if "dialog-ok" in switch_rules.disabled_types(user) else "on"
    if now != state:
        state = now
        print(f"{state} {time.time():.6f}", flush=True)
    time.sleep(0.002)
"""


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_no_switch_change_ever_sticks_under_concurrent_readers(user, group) -> None:
    """Three processes read the switch as fast as they can while it is toggled 20 times
    (globally and for the user's group), each change committing 0.2 s after it was made:
    the window in which a reader could load the old rules and keep them. Every reader
    sees every change within a second of its commit."""
    import queue
    import threading

    from django.db import transaction

    import audit

    toggles_count = 20
    readers = [_django_process(READER, str(user.pk), "60") for _ in range(3)]
    lines: list[queue.Queue[str]] = [queue.Queue() for _ in readers]

    def pump(stream: Any, into: queue.Queue[str]) -> None:
        for line in stream:
            into.put(line.strip())

    for reader, into in zip(readers, lines, strict=True):
        threading.Thread(target=pump, args=(reader.stdout, into), daemon=True).start()

    def wait_for(into: queue.Queue[str], state: str, timeout: float) -> float:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                seen, at = into.get(timeout=max(0.0, deadline - time.time())).split()
            except queue.Empty:
                break
            if seen == state:
                return float(at)
        raise AssertionError(f"a reader never saw the switch {state}")

    try:
        for into in lines:
            wait_for(into, "on", 30)
        dialog = EventType.objects.get(name="dialog-ok")
        delays = []
        for n in range(toggles_count):
            off = n % 2 == 0
            with transaction.atomic():
                if n % 4 < 2:  # untracked bulk update: nothing in this process reloads
                    with audit.disabled():
                        EventType.objects.filter(pk=dialog.pk).update(enabled=not off)
                elif off:
                    dialog.disabled_for.add(group)
                else:
                    dialog.disabled_for.remove(group)
                time.sleep(0.2)  # readers race the commit
            committed = time.time()
            for into in lines:
                seen = wait_for(into, "off" if off else "on", 3.0)
                delays.append(seen - committed)
        assert max(delays) < 1.0, f"slowest {max(delays):.3f} s"
    finally:
        for reader in readers:
            reader.kill()
            reader.wait()


STEPPED = """
import sys
import django
django.setup()
from django.contrib.auth.models import User
from audit import switch_rules
user = User.objects.get(pk=int(sys.argv[1]))
for line in sys.stdin:
    switch_rules.clear_local()  # as when its memo runs out
    state = "off" if "dialog-ok" in switch_rules.disabled_types(user) else "on"
    print(state, flush=True)
"""


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_rules_read_while_a_change_commits_are_not_kept(user) -> None:
    """The race, step by step: another process reads the rules after the change was made
    but before it committed (so it loads the old ones and caches them); once the change
    has committed, that process must still see it."""
    from django.db import transaction

    import audit

    reader = _django_process(STEPPED, str(user.pk), stdin=subprocess.PIPE)

    def ask() -> str:
        reader.stdin.write("read\n")
        reader.stdin.flush()
        return reader.stdout.readline().strip() or reader.stderr.read()

    try:
        assert ask() == "on"
        for enabled in (False, True, False):
            with transaction.atomic(), audit.disabled():
                EventType.objects.filter(name="dialog-ok").update(enabled=enabled)
                ask()  # reads the rules before the change commits
            time.sleep(switches_local_seconds())
            assert ask() == ("on" if enabled else "off")
    finally:
        reader.kill()
        reader.wait()
