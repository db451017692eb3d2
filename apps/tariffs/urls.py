"""Public tariff catalogue, mounted at /tariffs/ (no sign-in needed)."""

from django.urls import path

from apps.tariffs import views

urlpatterns = [
    path("", views.tariff_list, name="tariff_list"),
    path("<slug:code>/", views.tariff_detail, name="tariff_detail"),
    path("<slug:code>/print/", views.tariff_print, name="tariff_print"),
]
