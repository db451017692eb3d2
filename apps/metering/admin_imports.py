"""Admin for reading imports: upload a file, follow its progress, download its error report."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _

from apps.core.admin_site import ReadOnlyModelAdmin
from apps.metering.models import ImportBatch, ReadingRevision
from apps.metering.uploads import (
    UploadRefused,
    error_report_csv,
    import_progress,
    readings_upload,
)


class ReadingUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Readings file (CSV)"),
        help_text=_(
            "Columns: supply_point, interval_start (ISO 8601 with offset), duration_minutes, "
            "kwh_import, and optionally kwh_export and quality. Large files are imported in "
            "the background."
        ),
    )
    strict = forms.BooleanField(
        label=_("All or nothing"),
        required=False,
        help_text=_("Store nothing if any row is invalid."),
    )


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id",
        "source",
        "filename",
        "status",
        "rows_total",
        "rows_inserted",
        "rows_corrected",
        "rows_invalid",
        "started_at",
        "actor_label",
    )
    list_filter = ("source", "status")
    search_fields = ("filename", "actor_label")
    date_hierarchy = "started_at"
    ordering = ("-started_at", "-id")
    readonly_fields = [f.name for f in ImportBatch._meta.fields]
    change_list_template = "admin/metering/importbatch/change_list.html"
    change_form_template = "admin/metering/importbatch/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # batches are made by imports, not typed in

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _may_upload(self, request: HttpRequest) -> bool:
        return request.user.has_perm("metering.add_importbatch")

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("upload/", wrap(self.upload_view), name="metering_importbatch_upload"),
            path(
                "<int:batch_id>/progress/",
                wrap(self.progress_view),
                name="metering_importbatch_progress",
            ),
            path(
                "<int:batch_id>/errors.csv",
                wrap(self.errors_view),
                name="metering_importbatch_errors",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra = {"may_upload": self._may_upload(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self._may_upload(request):
            return HttpResponse(status=403)
        form = ReadingUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                batch = readings_upload(
                    upload=form.cleaned_data["file"],
                    strict=form.cleaned_data["strict"],
                    actor=request.user,
                )
            except UploadRefused as exc:
                form.add_error("file", str(exc).split(": ", 1)[-1])
            else:
                messages.info(request, _("Import #%(id)s started.") % {"id": batch.pk})
                return HttpResponseRedirect(
                    reverse("admin:metering_importbatch_change", args=[batch.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Upload readings"),
            "form": form,
        }
        return TemplateResponse(request, "admin/metering/importbatch/upload.html", context)

    def progress_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        batch = get_object_or_404(ImportBatch, pk=batch_id)
        context = {"batch": batch, "progress": import_progress(batch.pk)}
        return TemplateResponse(request, "admin/metering/importbatch/_progress.html", context)

    def errors_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        batch = get_object_or_404(ImportBatch, pk=batch_id)
        response = HttpResponse(error_report_csv(batch), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-errors.csv"'
        return response


@admin.register(ReadingRevision)
class ReadingRevisionAdmin(ReadOnlyModelAdmin):
    list_display = (
        "supply_point",
        "interval_start",
        "old_kwh_import",
        "old_quality",
        "new_kwh_import",
        "new_quality",
        "batch",
        "replaced_at",
    )
    list_select_related = ("supply_point", "batch")
    raw_id_fields = ("supply_point", "batch")
    search_fields = ("supply_point__external_id",)
    ordering = ("-replaced_at", "-id")
    show_full_result_count = False
