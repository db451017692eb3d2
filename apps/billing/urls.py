"""Customer billing pages under /my/billing/ (bills, payments, direct debit)."""

from apps.billing import urls_payments, urls_portal, urls_sepa

app_name = "billing"
urlpatterns = [*urls_portal.urlpatterns, *urls_payments.urlpatterns, *urls_sepa.urlpatterns]
