"""The operations dashboard, mounted at /staff/operations/."""

from django.urls import path

from apps.portal import ops_dashboard

urlpatterns = [
    path("", ops_dashboard.ops_dashboard, name="ops_dashboard"),
    path("figures/", ops_dashboard.ops_dashboard_figures, name="ops_dashboard_figures"),
]
