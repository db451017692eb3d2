from django.apps import AppConfig


class OutagesConfig(AppConfig):
    name = "apps.outages"
    label = "outages"
    verbose_name = "Outages"
