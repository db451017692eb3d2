from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "apps.metering"
    label = "metering"
    verbose_name = "Metering"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from apps.metering import models

        for model in (models.Premise, models.SupplyPoint, models.Meter):
            auditlog.register(model)
