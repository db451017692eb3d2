"""Staff-only service-request endpoints, mounted at /staff/requests/ (config/urls.py)."""

from django.urls import path

from apps.service_requests import staff_views

app_name = "service_requests_staff"

urlpatterns = [
    path(
        "<int:request_id>/documents/<int:document_id>/",
        staff_views.document_download,
        name="document",
    ),
]
