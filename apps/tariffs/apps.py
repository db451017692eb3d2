from django.apps import AppConfig


class TariffsConfig(AppConfig):
    name = "apps.tariffs"
    label = "tariffs"
    verbose_name = "Tariffs"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from apps.tariffs import models

        for model in (
            models.Tariff,
            models.PriceVersion,
            models.EnergyRate,
            models.TaxRate,
            models.Holiday,
        ):
            auditlog.register(model)
