"""Which event types only the server may record, and which can never be switched off.

A leaf module (it imports nothing of ``audit`` but the registry's kind names, lazily),
so that validation, the type table, the switches and the migrations can all ask it.

Why clients are kept off these types: a record of ``query-deleted`` linked to someone's
query reads "bob deleted the query" in its owner's activity panel. Changes to entities,
to the switches and to sessions are recorded by the server itself when they happen, so
a client posting one can only be forging history. A deployment marks more types
server-only with ``EventType.server_only`` (admin or API); a token of a trusted service
(``audit.trust``) may post them all.
"""

from __future__ import annotations

# The trail's own records: a seal (its digest, which the outside witness receives), a
# retention purge, a verification. Server-only, and never switched off.
TRAIL_TYPES: frozenset[str] = frozenset({"trail-sealed", "trail-purged", "trail-verified"})

# The record of a change to the switches can never be switched off itself.
PROTECTED: frozenset[str] = frozenset(
    {"event-type-created", "event-type-edited", "event-type-deleted", *TRAIL_TYPES}
)

# Sign-ins and tokens: the server sees them happen; a client can only claim them.
SESSION_TYPES: frozenset[str] = frozenset(
    {"user-signed-in", "user-signed-out", "user-sign-in-failed", "token-created", "token-deleted"}
)

# What change tracking and the platform's actions record about an entity.
ENTITY_ACTIONS = ("created", "edited", "deleted", "published", "transformations-edited")
SHARING_TYPES: frozenset[str] = frozenset({"entity-shared", "entity-shared-silent"})

_SUFFIXES = tuple(f"-{action}" for action in ENTITY_ACTIONS)


def is_server_type(name: str, kinds: frozenset[str] | None = None) -> bool:
    """Whether ``name`` is a type the server records by itself: a change of an entity
    kind that is registered (``kinds``; the registry's by default), sharing, the
    switches' own records and session events. Custom types of any other shape are
    the clients' to use."""
    if name in PROTECTED or name in SESSION_TYPES or name in SHARING_TYPES:
        return True
    if not name.endswith(_SUFFIXES):
        return False
    if kinds is None:
        from . import registry

        kinds = frozenset(registry.kinds())
    return _kind_of(name, kinds) is not None


def _kind_of(name: str, kinds: frozenset[str]) -> str | None:
    """The registered kind ``name`` acts on (kinds may hold '-': predictive-model)."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in kinds:
            return name[: -len(suffix)]
    return None
