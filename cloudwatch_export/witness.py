"""CloudWatch as the seals' outside witness.

Each seal's digest leaves as its ``trail-sealed`` record, through the outbox, for the
stream ``ExportSettings.seal_stream``. ``check`` reads that stream back (boto3
``FilterLogEvents``) and compares it with the seals stored: a digest that differs, a
seal that never arrived (once its record has left the outbox), a witnessed seal that
is no longer stored. ``manage.py audit_verify --witness cloudwatch`` runs it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.utils import timezone

from audit.models import IntegrityState, Seal

from . import connection, errors
from .crypto import DecryptionError
from .models import ExportSettings, OutboxEntry

_PARAMS = re.compile(r" params=(\{.*?\})(?: entities=| session=|$)")


SEAL_TYPE = "trail-sealed"


def _witnessed(message: str) -> dict[str, Any] | None:
    """The seal a message of the stream describes, JSON or text format alike. Only a
    ``trail-sealed`` record counts: whatever else reached the stream says nothing."""
    try:
        record = json.loads(message)
    except ValueError:
        # Text: "<time> <type> <user> #<id> [<level>] <message> params=..."
        parts = message.split(" ", 2)
        if len(parts) < 3 or parts[1] != SEAL_TYPE:
            return None
        match = _PARAMS.search(message)
        try:
            params = json.loads(match.group(1)) if match else None
        except ValueError:
            return None
    else:
        if not isinstance(record, dict) or record.get("type") != SEAL_TYPE:
            return None
        params = record.get("params")
    if not isinstance(params, dict) or "digest" not in params:
        return None
    try:
        int(params["first"]), int(params["last"])
    except (KeyError, TypeError, ValueError):
        return None
    return params


class WitnessUnavailable(Exception):
    """CloudWatch could not be read (endpoint down, keys refused, bad settings): the
    seals were compared with nothing, which is neither a pass nor a tampering."""


def fetch(settings: ExportSettings, logs: Any = None) -> list[dict[str, Any]]:
    try:
        return _fetch(settings, logs)
    except WitnessUnavailable:
        raise
    except DecryptionError as exc:
        raise WitnessUnavailable(str(exc)) from exc
    except (BotoCoreError, ClientError, ValueError) as exc:
        problem = errors.classify(exc, endpoint=settings.endpoint_url)
        raise WitnessUnavailable(problem.message) from exc


def _fetch(settings: ExportSettings, logs: Any = None) -> list[dict[str, Any]]:
    logs = logs or connection.client(settings)
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "logGroupName": settings.log_group,
        "logStreamNames": [settings.seal_stream],
    }
    while True:
        try:
            page = logs.filter_log_events(**kwargs)
        except logs.exceptions.ResourceNotFoundException:
            return found
        for event in page.get("events", []):
            params = _witnessed(event.get("message", ""))
            if params is not None:
                found.append(params)
        token = page.get("nextToken")
        if not token or token == kwargs.get("nextToken"):
            return found
        kwargs["nextToken"] = token


def check(seals: Iterable[Seal], logs: Any = None) -> list[str]:
    settings = ExportSettings.objects.filter().first()
    if settings is None or not settings.enabled or not settings.seal_stream:
        return ["the CloudWatch export is off or has no seal stream: nothing witnesses the seals"]
    problems: list[str] = []
    # The first message received for a block counts: a later one with another digest
    # can only be forged (a seal is never made twice), and is itself reported.
    witnessed: dict[tuple[int, int], dict[str, Any]] = {}
    conflicting: set[tuple[int, int]] = set()
    for params in fetch(settings, logs):
        key = (int(params["first"]), int(params["last"]))
        first = witnessed.setdefault(key, params)
        if first is not params and (
            first.get("digest") != params.get("digest")
            or first.get("previous", "") != params.get("previous", "")
        ):
            conflicting.add(key)
    for key in sorted(conflicting):
        problems.append(
            f"the witness received different digests for the seal of records "
            f"#{key[0]}-#{key[1]}: a later one was forged (tampering); the first counts"
        )
    waiting = set(OutboxEntry.objects.values_list("record_id", flat=True))
    stored = set()
    for seal in seals:
        key = (seal.first_record_id, seal.last_record_id)
        stored.add(key)
        seen = witnessed.get(key)
        if seen is None:
            if seal.record not in waiting:
                problems.append(
                    f"seal #{seal.pk} (records #{key[0]}-#{key[1]}) never reached the witness"
                )
        elif seen.get("digest") != seal.digest or seen.get("previous", "") != seal.previous:
            problems.append(
                f"seal #{seal.pk} (records #{key[0]}-#{key[1]}) differs from the digest the "
                f"witness received ({str(seen.get('digest'))[:16]}...)"
            )
    first_stored = min((key[0] for key in stored), default=None)
    for key in sorted(set(witnessed) - stored):
        if first_stored is None or key[0] >= first_stored:  # older ones were purged
            problems.append(f"a witnessed seal of records #{key[0]}-#{key[1]} is not stored")
    return problems


def witnessed(record_ids: Iterable[int], at: datetime | None = None) -> None:
    """CloudWatch accepted these records of the seal stream: remember the newest seal."""
    newest = Seal.objects.filter(record__in=list(record_ids)).order_by("-id").first()
    if newest is None:
        return
    IntegrityState.objects.filter(pk=1).update(
        witnessed_seal=newest.pk, witnessed_at=at or timezone.now()
    ) or IntegrityState.objects.create(
        pk=1, witnessed_seal=newest.pk, witnessed_at=at or timezone.now()
    )
