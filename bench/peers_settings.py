"""Settings for ``bench/tracking_peers.py`` only: the project's own, plus the peer
libraries it is compared with and the bench app holding one model per tool.

The peers (the ``bench`` extra in ``pyproject.toml``) are never in ``auditproj.settings``:
nothing outside this benchmark loads them.
"""

from auditproj.settings import *  # noqa: F403

INSTALLED_APPS = [
    *INSTALLED_APPS,  # noqa: F405
    "pgtrigger",
    "pghistory",
    "simple_history",
    "auditlog",
    "bench.peers",
]
