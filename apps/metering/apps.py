from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "apps.metering"
    label = "metering"
    verbose_name = "Metering"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from apps.metering import admin_imports, models  # noqa: F401 - registers admin classes

        # Interval readings are audited per import (ImportBatch with its actor) and per
        # replaced value (ReadingRevision); a row-level audit entry per reading would
        # multiply the largest table. Everything else is audited row by row.
        # Reverse one-to-one links (alert preferences, the outage network) are not fields
        # of a supply point: keep them out of its audit diff (each would cost a query).
        auditlog.register(
            models.SupplyPoint, exclude_fields=["alert_preference", "network_connection"]
        )
        for model in (
            models.Premise,
            models.Meter,
            models.RegisterRead,
            models.HeadEndSystem,
            models.AlertPreference,
        ):
            auditlog.register(model)
