"""Record levels, in the specification's order (audit, usage, info, debug, warning,
error). It is not a scale of severity: ``audit`` and ``usage`` say what a record is
for (evidence, usage analysis), the other four how serious a message is; no code
compares levels by their order."""

from django.db import models


class Level(models.TextChoices):
    AUDIT = "audit", "Audit"
    USAGE = "usage", "Usage"
    INFO = "info", "Info"
    DEBUG = "debug", "Debug"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


LEVELS: frozenset[str] = frozenset(Level.values)
