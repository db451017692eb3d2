"""The customer's bills under /my/billing/ (names in the ``billing`` namespace)."""

from django.urls import URLPattern, path

from apps.billing import views

urlpatterns: list[URLPattern] = [
    path("", views.history, name="history"),
    path("bills/<int:bill_id>/", views.bill_detail, name="bill_detail"),
    path("bills/<int:bill_id>/pdf/", views.bill_pdf, name="bill_pdf"),
    path("bills/<int:bill_id>/explanation.csv", views.bill_explanation, name="bill_explanation"),
]
