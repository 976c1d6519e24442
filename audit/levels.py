"""Record levels, from the most to the least important to keep."""

from django.db import models


class Level(models.TextChoices):
    AUDIT = "audit", "Audit"
    USAGE = "usage", "Usage"
    INFO = "info", "Info"
    DEBUG = "debug", "Debug"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


LEVELS: frozenset[str] = frozenset(Level.values)
