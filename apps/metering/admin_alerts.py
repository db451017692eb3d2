"""Back office for unusual-consumption alerts and the customers' alert preferences.

Both are read-only here: alerts are findings of the scan (``apps.metering.alerts``),
preferences are the customer's own choice (changed in the portal, audited).
Imported by ``apps/metering/admin.py``; the classes register themselves.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin_site import ReadOnlyModelAdmin
from apps.metering.models import AlertPreference, ConsumptionAlert


@admin.register(ConsumptionAlert)
class ConsumptionAlertAdmin(ReadOnlyModelAdmin):
    list_display = ("supply_point", "kind", "day", "observed", "expected", "detected_at")
    list_filter = ("kind",)
    date_hierarchy = "day"
    search_fields = ("supply_point__external_id",)
    search_help_text = _("Search by CUPS.")
    list_select_related = ("supply_point",)
    raw_id_fields = ("supply_point",)
    ordering = ("-day", "-id")
    show_full_result_count = False
    fields = ("supply_point", "kind", "day", "observed", "expected", "details", "detected_at")


@admin.register(AlertPreference)
class AlertPreferenceAdmin(ReadOnlyModelAdmin):
    list_display = ("supply_point", "sensitivity", "switched_off", "updated_at")
    list_filter = ("sensitivity",)
    search_fields = ("supply_point__external_id",)
    search_help_text = _("Search by CUPS.")
    list_select_related = ("supply_point",)
    raw_id_fields = ("supply_point",)
    ordering = ("supply_point__external_id", "id")
    fields = ("supply_point", "sensitivity", "disabled_kinds", "updated_at")

    @admin.display(description=_("alerts turned off"))
    def switched_off(self, obj: AlertPreference) -> str:
        labels = dict(ConsumptionAlert.Kind.choices)
        return ", ".join(str(labels.get(kind, kind)) for kind in obj.disabled_kinds or []) or "—"
