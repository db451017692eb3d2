from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    default = True
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from apps.core import metrics, roles

        metrics.install()
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="wattline_sync_roles")


class WattlineAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "apps.core.admin_site.WattlineAdminSite"
