"""Changing and describing the export settings: the logic behind
``manage.py cloudwatch_configure`` (the admin edits the same models through forms).

Everything is validated before anything is saved, and saved in one transaction, so a
bad ``--map`` never leaves half a configuration behind.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.models import EventType

from .models import ExportSettings, StreamMapping
from .validation import validate_stream


@dataclass
class Changes:
    """What to change; None leaves a value as it is."""

    enabled: bool | None = None
    log_group: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    endpoint_url: str | None = None
    message_format: str | None = None
    seal_stream: str | None = None  # '' sends the seals nowhere
    clear_keys: bool = False
    mapping: dict[str, str] | None = None  # type name -> stream; replaces the map


def parse_map(items: list[str]) -> dict[str, str]:
    """``["log=datagrok_log", ...]`` as a dict; ``=>`` is accepted too."""
    mapping: dict[str, str] = {}
    for item in items:
        sep = "=>" if "=>" in item else "="
        type_name, found, stream = (part.strip() for part in item.partition(sep))
        if not found or not type_name or not stream:
            raise ValidationError(f"--map {item!r}: expected TYPE=STREAM, e.g. log=datagrok_log")
        if type_name in mapping and mapping[type_name] != stream:
            raise ValidationError(f"--map: {type_name!r} is mapped twice")
        mapping[type_name] = stream
    return mapping


def apply(changes: Changes) -> ExportSettings:
    """Validate ``changes`` against the current settings and save them."""
    with transaction.atomic():
        settings = ExportSettings.load()
        for name in (
            "enabled",
            "log_group",
            "region",
            "endpoint_url",
            "message_format",
            "seal_stream",
        ):
            value = getattr(changes, name)
            if value is not None:
                setattr(settings, name, value)
        if changes.clear_keys:
            settings.access_key = ""
            settings.set_secret_key("")
        if changes.access_key is not None:
            settings.access_key = changes.access_key
        if changes.secret_key is not None:
            settings.set_secret_key(changes.secret_key)
        settings.full_clean()
        types = _types(changes.mapping) if changes.mapping is not None else {}
        if changes.mapping is not None:
            final = changes.mapping
        else:
            rows = settings.mappings.values_list("event_type__name", "stream")
            final = dict(rows)
        errors = seal_stream_errors(settings.seal_stream, final.items())
        if errors:
            raise ValidationError(errors)
        settings.save()
        if changes.mapping is not None:
            _replace_map(settings, types, changes.mapping)
    return settings


SEAL_TYPE = "trail-sealed"


def seal_stream_errors(seal_stream: str, rows: Iterable[tuple[str, str]]) -> list[str]:
    """A map row may send to the seal stream only the seals' own records: anything else
    there (a type a client can post) could pass for a witnessed digest."""
    if not seal_stream:
        return []
    return [
        f"{type_name!r} => {stream!r}: only {SEAL_TYPE} records may go to the seal "
        f"stream {seal_stream!r} (its witness of the seals); choose another stream"
        for type_name, stream in rows
        if stream == seal_stream and type_name != SEAL_TYPE
    ]


def _types(mapping: dict[str, str]) -> dict[str, EventType]:
    found = {t.name: t for t in EventType.objects.filter(name__in=list(mapping))}
    errors = []
    for type_name, stream in mapping.items():
        if type_name not in found:
            known = EventType.objects.values_list("name", flat=True)
            close = difflib.get_close_matches(type_name, list(known), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            errors.append(f"unknown event type {type_name!r}{hint}")
        try:
            validate_stream(stream)
        except ValidationError as exc:
            errors.append(f"stream {stream!r}: {' '.join(exc.messages)}")
    if errors:
        raise ValidationError(errors)
    return found


def _replace_map(
    settings: ExportSettings, types: dict[str, EventType], mapping: dict[str, str]
) -> None:
    """Make the map exactly ``mapping``, touching only the rows that change (each
    change of a row is itself an audit record)."""
    current = {m.event_type.name: m for m in settings.mappings.select_related("event_type")}
    for type_name, row in current.items():
        if type_name not in mapping:
            row.delete()
    for type_name, stream in mapping.items():
        kept = current.get(type_name)
        if kept is None:
            StreamMapping.objects.create(
                settings=settings, event_type=types[type_name], stream=stream
            )
        elif kept.stream != stream:
            kept.stream = stream
            kept.save()


def mask_access_key(access_key: str) -> str:
    """``AKIA…WXYZ``: enough to tell keys apart, never the whole key (short test keys
    such as ``test`` show as ``…``). The command's output and the admin form use it."""
    return f"{access_key[:4]}…{access_key[-4:]}" if len(access_key) > 8 else "…"


def describe(settings: ExportSettings) -> list[str]:
    """The settings as lines of text, the secret key never included."""
    if settings.access_key:
        masked = mask_access_key(settings.access_key)
        keys = f"access key {masked}, secret key set (encrypted, not shown)"
    else:
        keys = "boto3's default credential chain (no keys stored)"
    lines = [
        f"CloudWatch Logs export: {'enabled' if settings.enabled else 'disabled'}",
        f"  log group:      {settings.log_group or '(not set)'}",
        f"  region:         {settings.region or '(not set)'}",
        f"  credentials:    {keys}",
        f"  endpoint URL:   {settings.endpoint_url or '(AWS default for the region)'}",
        f"  message format: {settings.message_format}",
        f"  seal stream:    {settings.seal_stream or '(none: the seals have no witness)'}",
        "  map:",
    ]
    rows = settings.mappings.select_related("event_type").order_by("event_type__name")
    lines += [f"    {row.event_type.name} => {row.stream}" for row in rows] or ["    (empty)"]
    return lines
