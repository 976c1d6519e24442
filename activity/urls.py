"""The activity panel fragment and the activity pages."""

app_name = "activity"
urlpatterns: list = []
