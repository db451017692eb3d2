"""Customer billing pages under /my/billing/: history, a bill, its PDF and its explanation.

Every lookup is scoped to the signed-in user's accounts: a bill of someone else's account is
404 on every page and download (``selectors.bill_for_user``). The pages read their data through
``presentation`` before rendering; the PDF is rendered by ``pdf.bill_pdf_store`` when missing.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from typing import cast

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from apps.accounts import selectors as account_selectors
from apps.accounts.models import Account, User
from apps.billing import explanation, presentation, selectors
from apps.billing.pdf import bill_pdf_exists, bill_pdf_file_name, bill_pdf_store
from apps.core import clock


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _account_for_page(request: HttpRequest) -> Account | None:
    """``?account=`` (404 if not theirs) or the account chosen in the portal."""
    user = _user(request)
    if "account" in request.GET:
        return account_selectors.account_for_user(user, request.GET["account"])
    return account_selectors.current_account(user, request.session)


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """Balance, bills and credit notes, payments and the balance over time of one account."""
    account = _account_for_page(request)
    if account is None:
        return render(request, "billing/no_account.html")
    context = presentation.history_context(account, params=request.GET.dict())
    return render(request, "billing/history.html", context)


@login_required
@require_GET
def bill_detail(request: HttpRequest, bill_id: int) -> HttpResponse:
    """One bill or credit note with everything copied on it, and how to pay it."""
    bill = selectors.bill_for_user(_user(request), bill_id)
    context = presentation.bill_context(bill)
    open_amount = selectors.bill_open_amount(bill)
    context.update(
        open_amount=open_amount,
        card_pay_url=(
            presentation.reverse_or_none("billing:card_pay", bill.pk) if open_amount > 0 else None
        ),
        mandate_url=presentation.reverse_or_none("billing:mandate"),
    )
    return render(request, "billing/bill_detail.html", context)


@login_required
@require_GET
def bill_pdf(request: HttpRequest, bill_id: int) -> FileResponse:
    """The stored PDF of the bill (rendered and stored first if it is missing)."""
    bill = selectors.bill_for_user(_user(request), bill_id)
    if not bill_pdf_exists(bill):
        bill = bill_pdf_store(bill=bill, force=True)
    response = FileResponse(
        bill.pdf.open("rb"),
        as_attachment=True,
        filename=bill_pdf_file_name(bill),
        content_type="application/pdf",
    )
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


EXPLANATION_COLUMNS = (
    "bill_line",
    "contract",
    "cups",
    "interval_start_local",
    "minutes",
    "kwh",
    "quality",
    "component",
    "tou_period",
    "tier",
    "price_version",
    "unit_price",
    "amount",
)


def _number(value: Decimal | None) -> str:
    return "" if value is None else f"{value:f}"


@login_required
@require_GET
def bill_explanation(request: HttpRequest, bill_id: int) -> HttpResponse:
    """CSV: every reading of the bill's period, its period, tier, price and unrounded amount.

    A final section lists every line of the bill next to the sums of its readings' rows;
    for each energy or export line the rows' amounts, rounded once, make the line's amount.
    """
    bill = selectors.bill_for_user(_user(request), bill_id)
    try:
        rows, summaries = presentation.bill_explanation(bill)
    except explanation.ExplanationError as exc:
        return render(
            request,
            "billing/explanation_unavailable.html",
            {"bill": bill, "reason": str(exc)},
            status=409,
        )
    tz = clock.local_zone()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{bill.invoice_number or bill.pk}-explanation.csv"'
    )
    response["Cache-Control"] = "private, no-store"
    writer = csv.writer(response)
    writer.writerow(EXPLANATION_COLUMNS)
    positions = {s.line.key: s.line.position for s in summaries if s.explained}
    for row in rows:
        writer.writerow(
            [
                positions.get(row.line_key, ""),
                row.contract_number,
                row.cups,
                row.interval_start.astimezone(tz).isoformat(),
                row.minutes,
                _number(row.kwh),
                row.quality,
                row.component,
                "" if row.period in ("", "ALL") else row.period,
                "" if row.tier is None else row.tier,
                row.version_label,
                _number(row.unit_price),
                _number(row.amount),
            ]
        )
    writer.writerow([])
    writer.writerow([_("Summary per bill line")])
    writer.writerow(
        (
            "line",
            "contract",
            "component",
            "tou_period",
            "tier",
            "price_version",
            "line_quantity",
            "line_unit_price",
            "line_amount",
            "rows",
            "rows_kwh",
            "rows_amount_unrounded",
            "rows_amount_rounded",
            "matches",
        )
    )
    for summary in summaries:
        line = summary.line
        writer.writerow(
            [
                line.position,
                line.contract_number,
                line.component,
                "" if line.period in ("", "ALL") else line.period,
                "" if line.tier is None else line.tier,
                line.version_label,
                _number(line.quantity),
                _number(line.unit_price),
                _number(line.amount),
                summary.rows if summary.explained else "",
                _number(summary.kwh) if summary.explained else "",
                _number(summary.amount) if summary.explained else "",
                _number(summary.rounded) if summary.explained else "",
                ("yes" if summary.matches else "NO") if summary.explained else "",
            ]
        )
    return response
