"""REST CRUD of the platform's entities under /api/catalog/KIND/ (plural paths)."""

from rest_framework.routers import SimpleRouter

from .views import VIEWSETS

app_name = "catalog-api"

router = SimpleRouter()
for viewset in VIEWSETS:
    router.register(viewset.spec.plural, viewset, basename=viewset.spec.kind)

urlpatterns = router.urls
