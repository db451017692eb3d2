"""Customer service-request pages, mounted at /my/requests/ (config/urls.py)."""

from django.urls import path

from apps.service_requests import views

app_name = "service_requests"

urlpatterns = [
    path("", views.request_list, name="list"),
    path("new/", views.request_new, name="new"),
    path("new/<slug:type_slug>/", views.request_create, name="create"),
    path("<int:request_id>/", views.request_detail, name="detail"),
    path("<int:request_id>/cancel/", views.request_cancel, name="cancel"),
    path("<int:request_id>/visit/", views.appointment_choose, name="appointment"),
    path("<int:request_id>/visit/cancel/", views.appointment_cancel, name="appointment_cancel"),
    path(
        "<int:request_id>/documents/<int:document_id>/",
        views.document_download,
        name="document",
    ),
]
