"""Pages of the catalog: an overview, a list per kind and one page per entity."""

from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("<slug:plural>/", views.entity_list, name="list"),
    path("<slug:plural>/<uuid:pk>/", views.detail, name="detail"),
    path("<slug:plural>/<uuid:pk>/publish/", views.publish, name="publish"),
    path("<slug:plural>/<uuid:pk>/run/", views.run, name="run"),
    path("<slug:plural>/<uuid:pk>/open/", views.open_project, name="open"),
    path("<slug:plural>/<uuid:pk>/share/", views.share, name="share"),
    path("<slug:plural>/<uuid:pk>/comment/", views.comment, name="comment"),
]
