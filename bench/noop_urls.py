"""URLs for ``bench.noop_settings``: the project's, plus ``bench/noop/``.

``bench/noop/`` is what any authenticated API request costs before it does anything:
the whole middleware stack, DRF's authentication with the project's default classes
(a token, or a login session) and its permission check, and a tiny JSON answer. It is
``bench/activity_http.py``'s baseline: the activity pages are measured as a multiple of
it, so that the figure says what the activity itself adds on this machine.
"""

from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auditproj.urls import handler400, handler403, handler404, handler500
from auditproj.urls import urlpatterns as project_urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

NOOP_PATH = "/bench/noop/"


class NoopView(APIView):
    """An authenticated GET that does nothing: the project's default authentication
    classes (no override here), ``IsAuthenticated``, ``{"ok": true}``."""

    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [
    *project_urlpatterns,
    path(NOOP_PATH.strip("/") + "/", NoopView.as_view(), name="bench-noop"),
]
