"""Customer outage pages, mounted at /outages/."""

from django.urls import path

from apps.outages import views

app_name = "outages"

urlpatterns = [
    path("", views.customer_outages, name="home"),
    path("status/", views.customer_status_fragment, name="status"),
    path("report/", views.customer_report, name="report_create"),
    path("reports/<int:report_id>/", views.customer_report_detail, name="report"),
    path("<int:outage_id>/", views.customer_outage_detail, name="detail"),
]
