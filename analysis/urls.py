from django.urls import path

from . import views

app_name = "analysis"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("errors/", views.error_list, name="errors"),
    path("errors/<str:fingerprint>/", views.error_detail, name="error"),
    path("records/", views.records, name="records"),
]
