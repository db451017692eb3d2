"""Back office for the network model (maintained here) and for outages (read, act through services).

Outages, their interrupted supply points and timeline are written by detection and
by the staff pages at /staff/outages/; the admin shows them read-only and offers
the staff moves as actions that call the services.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.core import clock
from apps.core.admin_site import ReadOnlyInline, ReadOnlyModelAdmin
from apps.outages import services
from apps.outages.models import (
    Feeder,
    Outage,
    OutagePoint,
    OutageReport,
    OutageUpdate,
    Substation,
    SupplyPointConnection,
    Transformer,
)


@admin.register(Substation)
class SubstationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "name", "region", "feeder_count")
    search_fields = ("code", "name", "region")
    ordering = ("code", "id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Substation]:
        return super().get_queryset(request).annotate(n_feeders=Count("feeders"))

    @admin.display(description=_("feeders"), ordering="n_feeders")
    def feeder_count(self, obj: Any) -> int:
        return int(obj.n_feeders)


@admin.register(Feeder)
class FeederAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "name", "substation")
    list_select_related = ("substation",)
    list_filter = ("substation",)
    search_fields = ("code", "name", "substation__code")
    autocomplete_fields = ("substation",)
    ordering = ("code", "id")


@admin.register(Transformer)
class TransformerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "name", "feeder", "substation", "connected")
    list_select_related = ("feeder__substation",)
    list_filter = ("feeder__substation",)
    search_fields = ("code", "name", "feeder__code")
    autocomplete_fields = ("feeder",)
    ordering = ("code", "id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Transformer]:
        return super().get_queryset(request).annotate(n_points=Count("connections"))

    @admin.display(description=_("substation"), ordering="feeder__substation__code")
    def substation(self, obj: Transformer) -> str:
        return str(obj.feeder.substation)

    @admin.display(description=_("supply points"), ordering="n_points")
    def connected(self, obj: Any) -> str:
        url = reverse("admin:outages_supplypointconnection_changelist")
        return format_html(
            '<a href="{}?transformer__id__exact={}">{}</a>', url, obj.pk, obj.n_points
        )


@admin.register(SupplyPointConnection)
class SupplyPointConnectionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("supply_point", "transformer", "created_at")
    list_select_related = ("supply_point", "transformer")
    list_filter = ("transformer__feeder__substation",)
    search_fields = ("supply_point__external_id", "transformer__code")
    search_help_text = _("CUPS (or part of it) or transformer code.")
    autocomplete_fields = ("supply_point", "transformer")
    ordering = ("transformer__code", "supply_point__external_id", "id")
    show_full_result_count = False


class UpdateInline(ReadOnlyInline):
    model = OutageUpdate
    fields = ("created_at", "kind", "status", "note", "cause", "crew", "estimated_restoration_at")
    readonly_fields = fields
    ordering = ("created_at", "id")


class ReportInline(ReadOnlyInline):
    model = OutageReport
    fields = ("reported_at", "supply_point", "account", "description")
    readonly_fields = fields
    ordering = ("reported_at", "id")


@admin.register(Outage)
class OutageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "__str__",
        "kind",
        "status",
        "level",
        "node_display",
        "started_at",
        "ended_at",
        "estimated_restoration_at",
        "confidence",
    )
    list_filter = ("status", "kind", "level", "cause", "source")
    list_select_related = ("substation", "feeder", "transformer", "supply_point")
    search_fields = ("=id", "transformer__code", "feeder__code", "substation__code", "crew")
    date_hierarchy = "started_at"
    ordering = ("-started_at", "-id")
    inlines = (UpdateInline, ReportInline)
    actions = ("mark_restored", "cancel_outage")
    readonly_fields = [f.name for f in Outage._meta.get_fields() if f.concrete]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # planned work is scheduled at /staff/outages/planned/new/

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("node"))
    def node_display(self, obj: Outage) -> str:
        node = obj.node
        return str(node) if node is not None else ""

    def _act(self, request: HttpRequest, queryset: QuerySet[Outage], to_status: str) -> None:
        user = request.user
        assert isinstance(user, User)
        done = 0
        for outage in queryset.order_by("id"):
            try:
                services.outage_transition(
                    outage_id=outage.pk, to_status=to_status, actor=user, now=clock.now()
                )
                done += 1
            except services.OutageError as exc:
                self.message_user(request, f"{outage}: {exc}", level=messages.ERROR)
        if done:
            self.message_user(request, _("%(n)d outages updated.") % {"n": done})

    @admin.action(description=_("Mark power restored now"), permissions=["change"])
    def mark_restored(self, request: HttpRequest, queryset: QuerySet[Outage]) -> None:
        self._act(request, queryset, Outage.Status.RESTORED)

    @admin.action(description=_("Cancel (suspected or planned only)"), permissions=["change"])
    def cancel_outage(self, request: HttpRequest, queryset: QuerySet[Outage]) -> None:
        self._act(request, queryset, Outage.Status.CANCELLED)


@admin.register(OutagePoint)
class OutagePointAdmin(ReadOnlyModelAdmin):
    list_display = ("supply_point", "outage", "lost_at", "restored_at", "source")
    list_select_related = ("supply_point", "outage")
    list_filter = ("source",)
    search_fields = ("supply_point__external_id", "=outage__id")
    raw_id_fields = ("outage", "supply_point")
    ordering = ("-lost_at", "-id")
    show_full_result_count = False
