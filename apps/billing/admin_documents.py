"""Staff access to bill PDFs in the admin: a download view and a link for the bill page.

Wiring (in ``BillAdmin``)::

    def get_urls(self):
        from apps.billing import admin_documents
        return [*admin_documents.bill_document_urls(self), *super().get_urls()]

    readonly_fields / list_display: add ``admin_documents.bill_pdf_link`` (a callable
    column; it shows "Download PDF" for issued bills).

The view needs ``billing.view_bill`` (support agents and billing specialists have it) and
only serves issued bills and credit notes; a missing PDF is rendered and stored first.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.billing.models import Bill
from apps.billing.pdf import bill_pdf_exists, bill_pdf_file_name, bill_pdf_store

URL_NAME = "billing_bill_pdf"


def bill_pdf_admin_view(request: HttpRequest, object_id: str) -> FileResponse:
    """Download the stored PDF of bill ``object_id`` (staff with ``billing.view_bill``)."""
    if not request.user.has_perm("billing.view_bill"):
        raise PermissionDenied
    try:
        bill = Bill.objects.get(pk=int(object_id))
    except (Bill.DoesNotExist, ValueError):
        raise Http404("No such bill") from None
    if not bill.is_issued:
        raise Http404("This bill is not issued, so it has no PDF.")
    if not bill_pdf_exists(bill):
        bill = bill_pdf_store(bill=bill, force=True)
    response = FileResponse(
        bill.pdf.open("rb"),
        as_attachment=True,
        filename=bill_pdf_file_name(bill),
        content_type="application/pdf",
    )
    response["Cache-Control"] = "private, no-store"
    return response


def bill_document_urls(model_admin: admin.ModelAdmin[Any]) -> list[URLPattern]:
    """The admin URL ``admin:billing_bill_pdf`` (``<bill id>/pdf/``) behind the admin login."""
    return [
        path(
            "<path:object_id>/pdf/",
            model_admin.admin_site.admin_view(bill_pdf_admin_view),
            name=URL_NAME,
        )
    ]


@admin.display(description=gettext_lazy("PDF"))
def bill_pdf_link(obj: Bill) -> str:
    """A "Download PDF" link for an issued bill (empty until issued or before wiring)."""
    if not obj.pk or not obj.is_issued:
        return "—"
    try:
        url = reverse(f"admin:{URL_NAME}", args=[obj.pk])
    except NoReverseMatch:
        return "—"
    label = _("Download PDF") if obj.pdf else _("Render and download PDF")
    return format_html('<a href="{}">{}</a>', url, label)
