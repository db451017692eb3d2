from django.apps import AppConfig


class ServiceRequestsConfig(AppConfig):
    name = "apps.service_requests"
    label = "service_requests"
    verbose_name = "Service requests"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from apps.service_requests import models

        for model in (
            models.ServiceRequest,
            models.ServiceRequestStatusChange,
            models.ServiceDocument,
            models.Appointment,
            models.Crew,
            models.CrewShift,
        ):
            auditlog.register(model)
