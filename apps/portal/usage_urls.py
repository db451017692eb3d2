"""Customer usage pages, mounted at /my/usage/ (config/urls.py)."""

from django.urls import path

from apps.portal import usage_views as views

app_name = "usage"

urlpatterns = [
    path("", views.usage_index, name="index"),
    path("<int:supply_point_id>/", views.usage_page, name="detail"),
    path("<int:supply_point_id>/live/", views.usage_live, name="live"),
    path("<int:supply_point_id>/download.csv", views.usage_download_csv, name="download_csv"),
    path("<int:supply_point_id>/download.xml", views.usage_download_xml, name="download_xml"),
]
