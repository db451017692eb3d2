"""Bill PDFs: WeasyPrint output, tagged and titled; stored once; the task notifies; staff view."""

from __future__ import annotations

import datetime as dt
import re
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import RequestFactory
from django.urls import reverse

from apps.accounts.models import Account, Membership, User
from apps.billing import pdf
from apps.billing.admin_documents import bill_pdf_admin_view
from apps.billing.models import Bill, BillLine
from apps.billing.tasks_documents import render_bill_pdf
from apps.billing.tests.factories import draft_bill, issued_bill, madrid, make_account
from apps.core.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(customer: User) -> Account:
    return make_account(customer, name="Ana García")


@pytest.fixture
def bill(account: Account) -> Bill:
    bill = issued_bill(
        account=account,
        total=Decimal("61.25"),
        tax_total=Decimal("10.63"),
        period_start=dt.date(2026, 3, 1),
        issued_at=madrid(2026, 4, 2, 9),
    )
    Bill.objects.filter(pk=bill.pk).update(
        supply_summary=[
            {
                "contract": "C-000042",
                "cups": "ES0021000000004242QZ",
                "address": "Calle del Sol 7\n28013 Madrid",
                "tariff": "Tarifa Sol 2.0",
                "from": "2026-03-01",
                "to": "2026-04-01",
            }
        ],
        readings_actual=700,
        readings_estimated=44,
        daily_kwh=[[f"2026-03-{day:02d}", f"{day % 7 + 1}.250"] for day in range(1, 32)],
    )
    BillLine.objects.filter(bill=bill).update(contract_number="C-000042")
    bill.refresh_from_db()
    return bill


def _objects(data: bytes) -> bytes:
    """The PDF with every Flate stream inflated (object streams hold the catalogue)."""
    parts = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(parts)


def _text(document: Any) -> str:
    """All text WeasyPrint laid out on the pages (its document API)."""
    pieces: list[str] = []

    def walk(box: Any) -> None:
        text = getattr(box, "text", None)
        if isinstance(text, str):
            pieces.append(text)
        for child in getattr(box, "children", None) or []:
            walk(child)

    for page in document.pages:
        walk(page._page_box)
    return " ".join(pieces)


def test_pdf_is_a_tagged_titled_pdf_with_the_invoice_number(bill: Bill) -> None:
    data = pdf.bill_pdf_render(bill=bill)
    assert data.startswith(b"%PDF-1.")
    objects = _objects(data)
    assert b"/StructTreeRoot" in objects
    assert re.search(rb"/MarkInfo\s*<<\s*/Marked true", objects)
    assert b"/Lang (en)" in objects
    title = f"Bill {bill.invoice_number} \xb7 Wattline"
    assert b"/Title <feff" + title.encode("utf-16-be").hex().encode() + b">" in objects  # Info
    assert f'<rdf:li xml:lang="x-default">{title}</rdf:li>'.encode() in objects  # XMP dc:title
    assert b"/DisplayDocTitle true" in objects
    assert b"pdfuaid:part" in objects  # the PDF/UA identification in the XMP metadata
    assert b"/S /Table" in objects
    assert b"/S /Figure" in objects
    assert len(data) > 5_000


def test_pdf_text_has_lines_totals_due_date_payment_details_and_readings(
    bill: Bill, settings: Any
) -> None:
    settings.BILLING_CREDITOR_IBAN = "ES9121000418450200051332"
    text = _text(pdf.bill_document(bill=bill))
    assert bill.invoice_number in text
    assert "Ana García" in text
    assert "Calle Mayor 1" in text
    assert "ES0021000000004242QZ" in text
    assert "Tarifa Sol 2.0" in text
    assert "50.62" in text
    assert "10.63" in text
    assert "61.25" in text
    assert bill.due_date is not None
    assert bill.due_date.strftime("%-d %B %Y") in text
    assert "ES91 2100 0418 4502 0005 1332" in text
    assert bill.payment_reference
    assert bill.payment_reference in text
    assert "700 readings were measured by your meter" in text
    assert "44 were estimated" in text


def test_pdf_chart_draws_one_bar_per_day(bill: Bill) -> None:
    html = pdf.bill_html(bill=bill)
    assert html.count('class="bar" fill="#0b5d3b"') == 31  # colours as SVG attributes
    assert 'role="img"' in html
    assert "Daily consumption from 01/03/2026 to 31/03/2026" in html


def test_pdf_language_is_the_owners(bill: Bill, customer: User) -> None:
    customer.preferred_language = "es"
    customer.save(update_fields=["preferred_language"])
    assert pdf.bill_document_language(bill) == "es"
    assert b"/Lang (es)" in _objects(pdf.bill_pdf_render(bill=bill))


def test_draft_bill_has_no_pdf(account: Account) -> None:
    draft = draft_bill(account=account, total=Decimal("5.00"), period_start=dt.date(2026, 5, 1))
    with pytest.raises(pdf.BillNotRenderable, match="status"):
        pdf.bill_pdf_store(bill=draft)
    draft.refresh_from_db()
    assert not draft.pdf
    assert draft.pdf_rendered_at is None


def test_store_is_idempotent_and_force_replaces_the_file(
    bill: Bill, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    stored = pdf.bill_pdf_store(bill=bill)
    first_name, first_at = stored.pdf.name, stored.pdf_rendered_at
    assert first_at is not None
    assert (media_root / first_name).read_bytes().startswith(b"%PDF-")
    again = pdf.bill_pdf_store(bill=bill)
    assert (again.pdf.name, again.pdf_rendered_at) == (first_name, first_at)
    assert len(list(media_root.rglob("*.pdf"))) == 1
    with django_capture_on_commit_callbacks(execute=True):
        forced = pdf.bill_pdf_store(bill=bill, force=True)
    assert forced.pdf.name != first_name
    assert forced.pdf_rendered_at is not None
    assert forced.pdf_rendered_at >= first_at
    assert [p.name for p in media_root.rglob("*.pdf")] == [Path(forced.pdf.name).name]


def test_missing_file_is_rendered_again(bill: Bill, media_root: Path) -> None:
    stored = pdf.bill_pdf_store(bill=bill)
    (media_root / stored.pdf.name).unlink()
    assert pdf.bill_pdf_exists(stored) is False
    restored = pdf.bill_pdf_store(bill=stored)
    assert pdf.bill_pdf_exists(restored)


def test_task_stores_the_pdf_and_tells_every_member_once(
    bill: Bill,
    account: Account,
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    member = make_user("carla@example.com")
    Membership.objects.create(user=member, account=account, role=Membership.Role.MEMBER)
    with django_capture_on_commit_callbacks(execute=True):
        assert render_bill_pdf.delay(bill.pk).get() is True
    bill.refresh_from_db()
    assert bill.pdf
    assert bill.pdf_rendered_at is not None
    notes = Notification.objects.filter(dedupe_key=f"bill-issued:{bill.pk}").order_by("user_id")
    assert [n.user.email for n in notes] == ["ana@example.com", "carla@example.com"]
    assert {n.title for n in notes} == {"Your bill is ready"}
    assert {n.url for n in notes} == {reverse("billing:bill_detail", args=[bill.pk])}
    assert sorted(m.to[0] for m in mail.outbox) == ["ana@example.com", "carla@example.com"]
    assert all("Your bill is ready" in m.subject for m in mail.outbox)
    rendered_at = bill.pdf_rendered_at
    with django_capture_on_commit_callbacks(execute=True):
        assert render_bill_pdf.delay(bill.pk).get() is True  # again: nothing new
    bill.refresh_from_db()
    assert bill.pdf_rendered_at == rendered_at
    assert Notification.objects.filter(dedupe_key=f"bill-issued:{bill.pk}").count() == 2
    assert len(mail.outbox) == 2


def test_task_ignores_unknown_and_unissued_bills(account: Account) -> None:
    draft = draft_bill(account=account, total=Decimal("5.00"), period_start=dt.date(2026, 5, 1))
    assert render_bill_pdf.delay(draft.pk).get() is False
    assert render_bill_pdf.delay(999_999).get() is False
    assert Notification.objects.count() == 0


def test_staff_with_billing_view_can_download_others_cannot(
    bill: Bill, make_user: Any, customer: User
) -> None:
    factory = RequestFactory()
    agent = make_user("agent@staff.example.com", role="support_agent")
    request = factory.get("/")
    request.user = agent
    response = bill_pdf_admin_view(request, str(bill.pk))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF-")  # type: ignore[attr-defined]
    for outsider in (make_user("regulator@staff.example.com", role="regulator"), customer):
        request = factory.get("/")
        request.user = outsider
        with pytest.raises(PermissionDenied):
            bill_pdf_admin_view(request, str(bill.pk))
    draft = draft_bill(
        account=bill.account, total=Decimal("5.00"), period_start=dt.date(2026, 5, 1)
    )
    request = factory.get("/")
    request.user = agent
    with pytest.raises(Http404):
        bill_pdf_admin_view(request, str(draft.pk))
