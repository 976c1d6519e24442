"""Top-level URLs: the pages, the admin, the audit API and its OpenAPI document, and
the pages of 400, 403 and 404 answers (``auditproj.error_views``)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", include("audit.urls")),
    # Browsers ask for /favicon.ico on every page that names no icon (the admin's).
    path("favicon.ico", RedirectView.as_view(url=static("audit/favicon.svg"), permanent=True)),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/audit/analysis/", include("analysis.api_urls")),
    path("api/audit/", include("audit.api.urls")),
    path("api/catalog/", include("catalog.api.urls")),
    path("activity/", include("activity.urls")),
    path("catalog/", include("catalog.urls")),
    path("analysis/", include("analysis.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler400 = "auditproj.error_views.bad_request"
handler403 = "auditproj.error_views.permission_denied"
handler404 = "auditproj.error_views.page_not_found"
handler500 = "auditproj.error_views.server_error"
