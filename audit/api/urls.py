from django.urls import path

from . import export, integrity, views

app_name = "audit-api"

urlpatterns = [
    path("events/", views.EventsView.as_view(), name="events"),
    path("events/export/", export.EventsExportView.as_view(), name="events-export"),
    path("config/", views.ConfigView.as_view(), name="config"),
    path("event-types/", views.EventTypeList.as_view(), name="event-types"),
    path("event-types/<str:name>/", views.EventTypeDetail.as_view(), name="event-type"),
    path("integrity/", integrity.IntegrityView.as_view(), name="integrity"),
    path("sessions/", views.SessionListView.as_view(), name="sessions"),
    path("sessions/<uuid:uuid>/", views.SessionDetailView.as_view(), name="session"),
    path(
        "entities/<str:kind>/<str:object_id>/activity/",
        views.EntityActivityView.as_view(),
        name="entity-activity",
    ),
]
