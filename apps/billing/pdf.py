"""Bill PDFs: rendered with WeasyPrint from an HTML template, stored once beside the bill.

The PDF is a tagged PDF/UA-1 document (structure tree, document language, title) so screen
readers can read it; its language is the account owner's (the portal language otherwise).
The stored file is the legal copy: it is rendered once, after issue, and only re-rendered
on request (``force``) or when the stored file has gone missing.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from apps.accounts.models import Membership, User
from apps.accounts.selectors import communication_preference_for
from apps.billing.compute import bill_fill_daily_usage
from apps.billing.models import Bill
from apps.billing.presentation import bill_context
from apps.core import clock
from apps.core.audit import acting_as
from apps.core.notifications import notification_send

PDF_VARIANT = "pdf/ua-1"
TEMPLATE = "billing/pdf/bill.html"


class BillNotRenderable(Exception):
    """Only issued bills and credit notes have a PDF (drafts and held bills do not)."""


def bill_document_language(bill: Bill) -> str:
    """The language of the bill's account owner, else the portal's default."""
    languages = dict(settings.LANGUAGES)
    preferred = (
        Membership.objects.filter(account_id=bill.account_id, role=Membership.Role.OWNER)
        .order_by("id")
        .values_list("user__preferred_language", flat=True)
        .first()
    )
    return preferred if preferred in languages else settings.LANGUAGE_CODE


def bill_html(*, bill: Bill, language: str | None = None) -> str:
    """The HTML the PDF is made from (in the bill's document language)."""
    with translation.override(language or bill_document_language(bill)):
        context = bill_context(bill)
        context["language"] = translation.get_language()
        context["site_name"] = settings.SITE_NAME
        return render_to_string(TEMPLATE, context)


_fonts = threading.local()


def _font_config():  # type: ignore[no-untyped-def]
    """One WeasyPrint font configuration per thread, kept between bills.

    Setting fontconfig up again for every bill costs about an eighth of a render; the bill
    template declares no @font-face, so nothing bill-specific is ever added to it.
    """
    from weasyprint.text.fonts import FontConfiguration

    config = getattr(_fonts, "config", None)
    if config is None:
        config = _fonts.config = FontConfiguration()
    return config


def bill_document(*, bill: Bill, language: str | None = None):  # type: ignore[no-untyped-def]
    """The laid-out WeasyPrint document (pages and boxes), before it is written as PDF."""
    import weasyprint  # a heavy import; only the workers and PDF views need it

    html = bill_html(bill=bill, language=language)
    return weasyprint.HTML(string=html, base_url=str(settings.BASE_DIR)).render(
        pdf_variant=PDF_VARIANT, font_config=_font_config()
    )


def bill_pdf_render(*, bill: Bill, language: str | None = None) -> bytes:
    """The bill as PDF bytes (tagged PDF/UA-1). Raises BillNotRenderable for an unissued bill."""
    if not bill.is_issued:
        raise BillNotRenderable(f"status: bill {bill.pk} is {bill.status}, not issued.")
    document = bill_document(bill=bill, language=language)
    pdf = document.write_pdf(pdf_variant=PDF_VARIANT)
    assert isinstance(pdf, bytes)
    return pdf


def bill_pdf_file_name(bill: Bill) -> str:
    return f"{bill.invoice_number or bill.pk}.pdf"


def bill_pdf_exists(bill: Bill) -> bool:
    return bool(bill.pdf) and bill.pdf.storage.exists(bill.pdf.name)


def bill_pdf_store(*, bill: Bill, force: bool = False) -> Bill:
    """Render the bill's PDF and store it in ``bill.pdf`` (with ``pdf_rendered_at``).

    Idempotent: a bill whose stored PDF exists is returned as it is, unless ``force``.
    The bill row is locked while rendering, so two callers never store two files.
    Returns the bill as stored. Raises BillNotRenderable for a bill that is not issued.
    """
    with transaction.atomic():
        locked = Bill.objects.select_for_update().get(pk=bill.pk)
        if not force and bill_pdf_exists(locked):
            return locked
        pdf = bill_pdf_render(bill=locked)
        previous = locked.pdf.name if locked.pdf else ""
        locked.pdf.save(bill_pdf_file_name(locked), ContentFile(pdf), save=False)
        locked.pdf_rendered_at = clock.now()
        with acting_as(None):
            locked.save(update_fields=["pdf", "pdf_rendered_at"])
        if previous and previous != locked.pdf.name:
            storage = locked.pdf.storage
            transaction.on_commit(lambda: storage.delete(previous))
    bill.pdf = locked.pdf
    bill.pdf_rendered_at = locked.pdf_rendered_at
    return locked


NOTIFICATION_KIND = "billing.bill_ready"


def _ready_message(bill: Bill) -> tuple[str, str]:
    values = {
        "number": bill.invoice_number,
        "amount": f"{bill.total:.2f}",
        "currency": settings.WATTLINE_CURRENCY,
        "date": bill.due_date.strftime("%d/%m/%Y") if bill.due_date else "",
    }
    if bill.kind == Bill.Kind.CREDIT_NOTE:
        title = _("Your credit note is ready")
        body = _("Credit note %(number)s for %(amount)s %(currency)s is ready to view.") % values
    else:
        title = _("Your bill is ready")
        body = (
            _("Bill %(number)s for %(amount)s %(currency)s is ready. Please pay it by %(date)s.")
            % values
        )
    return str(title), str(body)


def bill_pdf_publish(*, bill_id: int) -> bool:
    """Store the PDF of issued bill ``bill_id`` and notify every member of its account.

    In-app and by email (per the customer's email preference), in each member's language,
    with a link to the bill page; once per member and bill (dedupe key
    ``bill-issued:<id>``). Returns False, changing nothing, if the bill does not exist or
    is not issued (a draft or held bill has no document yet).
    """
    bill = Bill.objects.select_related("account__customer").filter(pk=bill_id).first()
    if bill is None or not bill.is_issued:
        return False
    bill = bill_pdf_store(bill=bill_fill_daily_usage(bill=bill))
    email = bool(communication_preference_for(bill.account.customer).email_notifications)
    url = reverse("billing:bill_detail", args=[bill.pk])
    members = User.objects.filter(memberships__account=bill.account_id, is_active=True)
    for user in members.order_by("id"):
        with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
            title, body = _ready_message(bill)
        notification_send(
            user=user,
            kind=NOTIFICATION_KIND,
            title=title,
            body=body,
            url=url,
            dedupe_key=f"bill-issued:{bill.pk}",
            email=email,
        )
    return True
