from django.urls import path

from apps.portal import notification_views as views

urlpatterns = [
    path("", views.notification_list, name="notification_list"),
]
