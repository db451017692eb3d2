from django.urls import path

from apps.metering import api

urlpatterns = [
    path("readings/", api.ReadingBatchView.as_view(), name="api-readings"),
    path("events/", api.EventBatchView.as_view(), name="api-events"),
]
