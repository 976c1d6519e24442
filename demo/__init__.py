"""The demo: people and six weeks of their use of the platform (``manage.py seed_demo``).

It lives outside ``audit`` and ``catalog`` because it needs both and belongs to
neither: the history is played through the platform's own code (sign-ins, change
tracking, catalog actions, the ingest function), so every record looks like one real
use would leave.
"""
