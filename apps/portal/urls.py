from django.urls import path

from apps.portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("my/", views.dashboard, name="portal_home"),
    path("my/switch-account/", views.switch_account, name="portal_switch_account"),
]
