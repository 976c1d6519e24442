"""Pages of the catalog: a list per kind and one page per entity."""

app_name = "catalog"
urlpatterns: list = []
