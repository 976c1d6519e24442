from django.urls import path

from . import api

app_name = "analysis-api"

urlpatterns = [
    path("usage/", api.UsageView.as_view(), name="usage"),
    path("errors/", api.ErrorsView.as_view(), name="errors"),
    path("errors/<str:fingerprint>/", api.ErrorDetailView.as_view(), name="error"),
]
