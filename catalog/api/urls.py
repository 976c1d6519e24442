"""REST CRUD of the platform's entities under /api/catalog/KIND/."""

app_name = "catalog-api"
urlpatterns: list = []
