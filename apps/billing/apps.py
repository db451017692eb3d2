from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "apps.billing"
    label = "billing"
    verbose_name = _("Billing")

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from apps.billing import models

        for model in (
            models.Bill,
            models.BillRun,
            models.BillIssue,
            models.LedgerEntry,
            models.Payment,
            models.Mandate,
            models.BankStatementEntry,
            models.PaymentPlan,
            models.InvoiceSeries,
            models.DirectDebitBatch,
            models.DunningNotice,
            models.BankStatement,
        ):
            auditlog.register(model)
