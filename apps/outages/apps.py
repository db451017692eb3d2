from django.apps import AppConfig


class OutagesConfig(AppConfig):
    name = "apps.outages"
    label = "outages"
    verbose_name = "Outages"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from apps.outages import models

        # Interrupted supply points (OutagePoint) are derived from meter events in bulk and
        # are not audited row by row; the outage, its timeline and reports are (decision 0630).
        for model in (
            models.Substation,
            models.Feeder,
            models.Transformer,
            models.SupplyPointConnection,
            models.Outage,
            models.OutageUpdate,
            models.OutageReport,
        ):
            auditlog.register(model)
