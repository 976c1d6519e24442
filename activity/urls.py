"""The activity panel fragment and the activity pages.

``users/`` and ``sessions/`` come first: ``KIND/ID/`` would match them otherwise.
"""

from django.urls import path

from . import views

app_name = "activity"
urlpatterns = [
    path("users/<str:username>/", views.user_activity, name="user"),
    path("sessions/<uuid:session_uuid>/", views.session_timeline, name="session"),
    path("<str:kind>/<str:object_id>/", views.entity_panel, name="entity"),
]
