"""Card payments under /my/billing/ (names in the ``billing`` namespace)."""

from django.urls import URLPattern, path

from apps.billing import payment_views

urlpatterns: list[URLPattern] = [
    path("bills/<int:bill_id>/pay/card/", payment_views.card_pay, name="card_pay"),
    path("payments/<int:payment_id>/return/", payment_views.card_return, name="card_return"),
    path("payments/<int:payment_id>/card/", payment_views.card_checkout, name="card_checkout"),
    path(
        "pay/local/<str:reference>/",
        payment_views.local_gateway_page,
        name="local_gateway_page",
    ),
]
