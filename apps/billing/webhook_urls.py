"""Payment-gateway webhooks (no session; each request proves itself with a signature)."""

from django.urls import URLPattern, path

from apps.billing import payment_views

app_name = "billing_webhooks"
urlpatterns: list[URLPattern] = [
    path("<slug:gateway>/", payment_views.gateway_webhook, name="gateway"),
]
