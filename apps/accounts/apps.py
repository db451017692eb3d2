from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from auditlog.registry import auditlog
        from django.contrib.auth.models import Group

        from apps.accounts import models

        auditlog.register(
            models.User, exclude_fields=["password", "last_login"], m2m_fields={"groups"}
        )
        for model in (
            models.Address,
            models.Customer,
            models.Account,
            models.Membership,
            models.CommunicationPreference,
            models.ConsentRecord,
        ):
            auditlog.register(model)
        auditlog.register(Group, m2m_fields={"permissions"})
