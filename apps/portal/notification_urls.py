"""The notification centre and the alert settings, mounted at /my/notifications/."""

from django.urls import path

from apps.portal import alert_views
from apps.portal import notification_views as views

urlpatterns = [
    path("", views.notification_list, name="notification_list"),
    path("unread-count/", views.notification_unread_count, name="notification_unread_count"),
    path("<int:notification_id>/read/", views.notification_read, name="notification_read"),
    path("read-all/", views.notification_read_all, name="notification_read_all"),
    path(
        "settings/<int:supply_point_id>/",
        alert_views.alert_settings,
        name="alert_settings",
    ),
]
