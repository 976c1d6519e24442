"""Token authentication that also tells the audit context who the client is.

Django's middleware runs before DRF authenticates a token, so the audit context it
binds has an anonymous user; this class fills in the token's user, so that records
written for the request join the right user and ``api`` session.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import TokenAuthentication
from rest_framework.request import Request

from ..context import current


class AuditTokenAuthentication(TokenAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is not None:
            ctx = current()
            if ctx is not None:
                ctx.user = result[0]
                ctx.session = None  # resolved from the token on first record
        return result
