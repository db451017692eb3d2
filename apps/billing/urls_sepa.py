"""Direct debit (SEPA mandate) pages, mounted under /my/billing/ by ``apps.billing.urls``."""

from django.urls import URLPattern, path

from apps.billing import mandate_views

urlpatterns: list[URLPattern] = [
    path("direct-debit/", mandate_views.mandate, name="mandate"),
    path("direct-debit/revoke/", mandate_views.mandate_revoke, name="mandate_revoke"),
]
