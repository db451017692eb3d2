from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "apps.contracts"
    label = "contracts"
    verbose_name = "Contracts"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from apps.contracts import models

        for model in (
            models.Contract,
            models.ContractStatusChange,
            models.ContractDiscount,
            models.TermsAcceptance,
            models.TermsVersion,
        ):
            auditlog.register(model)
