"""Operations pages for outages, mounted at /staff/outages/."""

from django.urls import path

from apps.outages import views

app_name = "outages_staff"

urlpatterns = [
    path("", views.staff_dashboard, name="dashboard"),
    path("current/", views.staff_dashboard_fragment, name="current"),
    path("planned/new/", views.staff_planned_new, name="planned_new"),
    path("reliability/", views.staff_reliability, name="reliability"),
    path("reliability.csv", views.staff_reliability_csv, name="reliability_csv"),
    path("<int:outage_id>/", views.staff_outage_detail, name="detail"),
    path("<int:outage_id>/update/", views.staff_post_update, name="post_update"),
    path("<int:outage_id>/restore/", views.staff_restore, name="restore"),
    path("<int:outage_id>/status/", views.staff_transition, name="transition"),
]
