"""What the customer's billing pages and the bill PDF show, read before rendering.

Plain context builders shared by the web pages (``views``) and the PDF (``pdf``): the bill
page and the PDF show the same copied data, grouped the same way. Everything a bill shows
comes from the bill itself (copied at computation), never from the live account, tariff or
contract. Every query runs here, none in templates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import F, Sum, Window
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from apps.accounts.models import Account
from apps.billing import explanation, selectors
from apps.billing.models import Bill, BillLine, LedgerEntry
from apps.contracts import selectors as contract_selectors
from apps.core import clock
from apps.core.money import round_energy
from apps.metering import selectors as metering_selectors
from apps.tariffs import selectors as tariff_selectors

ZERO = Decimal("0.00")
KWH = Decimal("0.001")
BILLS_PER_PAGE = 12
PAYMENTS_PER_PAGE = 12
LEDGER_PER_PAGE = 20


# -- small formatting helpers (locale-independent figures; templates add words) ------------------


def format_iban(iban: str) -> str:
    """An IBAN in groups of four, as people write it: ``ES91 2100 0418 ...``."""
    cleaned = "".join(iban.split()).upper()
    return " ".join(cleaned[i : i + 4] for i in range(0, len(cleaned), 4))


def _plain(value: Decimal, places: int) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-places)):f}"


def _rate(value: Decimal) -> str:
    """A unit price with as many places as it has (at least 2, at most 6)."""
    text = f"{value.quantize(Decimal('0.000001')).normalize():f}"
    if "." not in text:
        return text + ".00"
    decimals = len(text.split(".")[1])
    return text + "0" * max(0, 2 - decimals)


def reverse_or_none(name: str, *args: object) -> str | None:
    """The URL of ``name``, or None while that page does not exist (yet)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


# -- bill lines ------------------------------------------------------------------------------


def component_label(component: str) -> str:
    labels = {
        "STANDING_CHARGE": _("Standing charge"),
        "FIXED_CHARGE": _("Fixed monthly charge"),
        "ENERGY": _("Energy"),
        "DYNAMIC_ENERGY": _("Energy at the hourly market price"),
        "EXPORT_CREDIT": _("Credit for energy you exported"),
        "DISCOUNT": _("Discounts"),
        "MINIMUM_CHARGE": _("Minimum monthly charge"),
        "TAX": _("Taxes"),
    }
    return labels.get(component, component)


@dataclass(slots=True)
class LineRow:
    description: str
    detail: str
    quantity: str
    unit_price: str
    amount: Decimal
    version_label: str
    estimated_note: bool = False


@dataclass(slots=True)
class ComponentGroup:
    component: str
    label: str
    rows: list[LineRow]
    subtotal: Decimal


@dataclass(slots=True)
class SupplyGroup:
    contract: str
    cups: str
    address_lines: list[str]
    tariff: str
    first_day: dt.date | None
    last_day: dt.date | None
    components: list[ComponentGroup]
    subtotal: Decimal
    rates: list[dict[str, str]] = field(default_factory=list)
    standing_charge: str = ""


def _line_row(line: BillLine, currency: str) -> LineRow:
    component = line.component
    period = "" if line.period in ("", "ALL") else line.period
    if component == "ENERGY":
        description = _("Energy")
        if period and line.tier:
            detail = _("period %(period)s, tier %(tier)s") % {"period": period, "tier": line.tier}
        elif period:
            detail = _("period %(period)s") % {"period": period}
        elif line.tier:
            detail = _("tier %(tier)s") % {"tier": line.tier}
        else:
            detail = ""
    elif component == "TAX":
        description = line.label or line.period
        detail = ""
    elif component == "DISCOUNT":
        description = line.label or _("Discount")
        detail = _("period %(period)s") % {"period": period} if period else ""
    else:
        description = component_label(component)
        detail = ""
    if line.unit == "kWh":
        quantity = f"{round_energy(line.quantity):f} kWh"
        unit_price = f"{_rate(line.unit_price)} {currency}/kWh"
    elif line.unit == "day":
        quantity = _("%(count)s days") % {"count": f"{line.quantity.normalize():f}"}
        unit_price = f"{_rate(line.unit_price)} {currency}/" + _("day")
    elif line.unit == "month":
        quantity = _("%(count)s months") % {"count": _plain(line.quantity, 4)}
        unit_price = f"{_rate(line.unit_price)} {currency}/" + _("month")
    else:  # "%": the quantity is the percentage, the unit price the base it applies to
        quantity = f"{line.quantity.normalize():f} %"
        unit_price = _("of %(base)s %(currency)s") % {
            "base": _plain(line.unit_price, 2),
            "currency": currency,
        }
    return LineRow(
        description=description,
        detail=detail,
        quantity=quantity,
        unit_price=unit_price,
        amount=line.amount,
        version_label=line.version_label,
    )


def _supply_groups(bill: Bill, lines: Sequence[BillLine], currency: str) -> list[SupplyGroup]:
    """Lines grouped by contract (in the order of the supply summary), then by component."""
    summary = {str(item.get("contract", "")): item for item in bill.supply_summary or []}
    order = list(summary)
    for line in lines:
        if line.contract_number not in summary and line.contract_number not in order:
            order.append(line.contract_number)
    groups = []
    for contract in order:
        contract_lines = [line for line in lines if line.contract_number == contract]
        item = summary.get(contract, {})
        components: list[ComponentGroup] = []
        by_component: dict[str, ComponentGroup] = {}
        versions = {line.version_label for line in contract_lines if line.component != "TAX"}
        for line in contract_lines:
            group = by_component.get(line.component)
            if group is None:
                group = by_component[line.component] = ComponentGroup(
                    line.component, component_label(line.component), [], ZERO
                )
                components.append(group)
            row = _line_row(line, currency)
            if len(versions) < 2:
                row.version_label = ""  # one price version: nothing to tell apart
            group.rows.append(row)
            group.subtotal += line.amount
        first = _date_or_none(item.get("from"))
        following = _date_or_none(item.get("to"))
        groups.append(
            SupplyGroup(
                contract=contract,
                cups=str(item.get("cups", "")),
                address_lines=[part for part in str(item.get("address", "")).splitlines() if part],
                tariff=str(item.get("tariff", "")),
                first_day=first,
                last_day=following - dt.timedelta(days=1) if following else None,
                components=components,
                subtotal=sum((g.subtotal for g in components), ZERO),
                rates=[
                    {
                        "period": "" if r.get("period") in (None, "", "ALL") else str(r["period"]),
                        "tier": str(r.get("tier") or ""),
                        "rate": _rate(Decimal(str(r.get("rate", "0")))),
                    }
                    for r in item.get("rates", []) or []
                ],
                standing_charge=(
                    _rate(Decimal(str(item["standing_charge_per_day"])))
                    if item.get("standing_charge_per_day")
                    else ""
                ),
            )
        )
    return groups


def _date_or_none(value: object) -> dt.date | None:
    if isinstance(value, str) and value:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


# -- charts (server-drawn SVG: no script, same picture on the page and in the PDF) ------------


@dataclass(slots=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    label: str
    value: str
    negative: bool = False


@dataclass(slots=True)
class BarChart:
    width: int
    height: int
    baseline: str
    bars: list[Bar]
    top_label: str
    bottom_label: str
    first_label: str
    last_label: str
    summary: str


def bar_chart(
    values: Sequence[Decimal],
    labels: Sequence[str],
    *,
    unit: str,
    summary: str,
    width: int = 640,
    height: int = 180,
) -> BarChart | None:
    """Bars (negative ones below a baseline) scaled into a ``width`` x ``height`` SVG box."""
    if not values:
        return None
    top = max(max(values), Decimal(0))
    bottom = min(min(values), Decimal(0))
    span = top - bottom or Decimal(1)
    plot_top, plot_height = Decimal(14), Decimal(height - 34)
    left, plot_width = Decimal(48), Decimal(width - 56)
    step = plot_width / len(values)
    bar_width = max(step * Decimal("0.7"), Decimal("0.5"))
    baseline = plot_top + plot_height * top / span
    bars = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        scaled = plot_height * abs(value) / span
        y = baseline - scaled if value >= 0 else baseline
        bars.append(
            Bar(
                x=_plain(left + step * index + (step - bar_width) / 2, 2),
                y=_plain(y, 2),
                width=_plain(bar_width, 2),
                height=_plain(max(scaled, Decimal("0.5")) if value else Decimal(0), 2),
                label=label,
                value=f"{value}",
                negative=value < 0,
            )
        )
    return BarChart(
        width=width,
        height=height,
        baseline=_plain(baseline, 2),
        bars=bars,
        top_label=f"{_plain(top, 2 if unit != 'kWh' else 1)} {unit}",
        bottom_label=f"{_plain(bottom, 2 if unit != 'kWh' else 1)} {unit}",
        first_label=labels[0],
        last_label=labels[-1],
        summary=summary,
    )


# -- the bill --------------------------------------------------------------------------------


@dataclass(slots=True)
class DailyRow:
    day: dt.date
    kwh: Decimal


def daily_rows(bill: Bill) -> list[DailyRow]:
    """``bill.daily_kwh`` ([[iso date, kWh], ...]) as typed rows, bad entries skipped."""
    rows = []
    for entry in bill.daily_kwh or []:
        try:
            day, kwh = entry
            rows.append(DailyRow(dt.date.fromisoformat(str(day)), Decimal(str(kwh))))
        except (TypeError, ValueError, ArithmeticError):
            continue
    return rows


def bill_context(bill: Bill) -> dict[str, Any]:
    """Everything the bill page and the bill PDF show (two queries: lines, credit links)."""
    currency = settings.WATTLINE_CURRENCY
    lines = list(bill.lines.order_by("position"))
    groups = _supply_groups(bill, lines, currency)
    tax_summary: dict[str, Decimal] = {}  # one row per tax, summed over the contracts
    for line in lines:
        if line.component == "TAX":
            label = line.label or line.period
            tax_summary[label] = tax_summary.get(label, ZERO) + line.amount
    daily = daily_rows(bill)
    chart = bar_chart(
        [row.kwh for row in daily],
        [row.day.strftime("%d/%m") for row in daily],
        unit="kWh",
        summary=_("Daily consumption from %(first)s to %(last)s, in kWh: see the table.")
        % {
            "first": daily[0].day.strftime("%d/%m/%Y") if daily else "",
            "last": daily[-1].day.strftime("%d/%m/%Y") if daily else "",
        },
    )
    readings_total = bill.readings_actual + bill.readings_estimated
    is_credit_note = bill.kind == Bill.Kind.CREDIT_NOTE
    credit_notes = (
        []
        if is_credit_note
        else list(
            Bill.objects.filter(original=bill, status__in=selectors.ISSUED_STATUSES)
            .order_by("issued_at", "id")
            .only("id", "invoice_number", "issued_at", "total")
        )
    )
    original = bill.original if is_credit_note and bill.original_id else None
    tz = clock.local_zone()
    return {
        "bill": bill,
        "currency": currency,
        "is_credit_note": is_credit_note,
        "original": original,
        "credit_notes": credit_notes,
        "issued_on": bill.issued_at.astimezone(tz).date() if bill.issued_at else None,
        "last_day": bill.period_end - dt.timedelta(days=1),
        "address_lines": [part for part in bill.billing_address.splitlines() if part],
        "supplies": groups,
        "taxes": [{"label": label, "amount": amount} for label, amount in tax_summary.items()],
        "daily": daily,
        "daily_total": sum((row.kwh for row in daily), Decimal(0)),
        "chart": chart,
        "readings_total": readings_total,
        "estimated_percent": (
            Decimal(bill.readings_estimated * 100) / readings_total if readings_total else None
        ),
        "coverage_percent": (
            Decimal(min(bill.minutes_read, bill.minutes_expected) * 100) / bill.minutes_expected
            if bill.minutes_expected
            else None
        ),
        "creditor": {
            "name": settings.BILLING_CREDITOR_NAME,
            "tax_id": settings.BILLING_CREDITOR_TAX_ID,
            "iban": format_iban(settings.BILLING_CREDITOR_IBAN),
            "bic": settings.BILLING_CREDITOR_BIC,
        },
        "payment_reference": bill.payment_reference or bill.invoice_number or "",
        "to_pay": bill.kind == Bill.Kind.BILL and bill.status == Bill.Status.ISSUED,
    }


def _page(paginator: Paginator, number: object) -> Page:
    return paginator.get_page(number if isinstance(number, str | int) else 1)


def history_context(account: Account, *, params: dict[str, str]) -> dict[str, Any]:
    """Balance, bills and credit notes, payments and the running balance of ``account``.

    Each list is paginated on its own (``bills``, ``payments``, ``statement`` page params);
    the running balance is summed by PostgreSQL over the whole ledger (a window function),
    so any page of the statement shows the right balance after each entry.
    """
    currency = settings.WATTLINE_CURRENCY
    balance = selectors.account_balance(account)
    bills = _page(
        Paginator(
            selectors.bills_of_account(account)
            .select_related("original")
            .only(
                "id",
                "kind",
                "status",
                "invoice_number",
                "issued_at",
                "period_start",
                "period_end",
                "due_date",
                "total",
                "amount_due",
                "original__invoice_number",
                "original__id",
            ),
            BILLS_PER_PAGE,
        ),
        params.get("bills", 1),
    )
    payments = _page(
        Paginator(selectors.payments_of_account(account).select_related("bill"), PAYMENTS_PER_PAGE),
        params.get("payments", 1),
    )
    ledger = (
        LedgerEntry.objects.filter(account=account)
        .annotate(running=Window(Sum("amount"), order_by=[F("posted_at").asc(), F("id").asc()]))
        .order_by("-posted_at", "-id")
        .values("pk", "kind", "amount", "posted_at", "description", "running", "bill_id")
    )
    statement = _page(Paginator(ledger, LEDGER_PER_PAGE), params.get("statement", 1))
    tz: ZoneInfo = clock.local_zone()
    entries = [
        {
            **entry,
            "kind_label": LedgerEntry.Kind(entry["kind"]).label,
            "posted_on": entry["posted_at"].astimezone(tz).date(),
        }
        for entry in statement.object_list
    ]
    chronological = list(reversed(entries))
    chart = bar_chart(
        [entry["running"] for entry in chronological],
        [entry["posted_on"].strftime("%d/%m/%y") for entry in chronological],
        unit=currency,
        summary=_(
            "Your balance after each movement from %(first)s to %(last)s: bars above the line "
            "are money you owed, below it credit in your favour. The table below has the figures."
        )
        % {
            "first": chronological[0]["posted_on"].strftime("%d/%m/%Y") if entries else "",
            "last": chronological[-1]["posted_on"].strftime("%d/%m/%Y") if entries else "",
        },
    )
    latest = (
        next((b for b in bills.object_list if b.kind == Bill.Kind.BILL), None)
        if bills.number == 1
        else None
    )
    return {
        "account": account,
        "currency": currency,
        "balance": balance,
        "owes": balance > 0,
        "in_credit": balance < 0,
        "balance_abs": abs(balance),
        "bills": bills,
        "payments": payments,
        "statement": statement,
        "entries": entries,
        "chart": chart,
        "latest_bill": latest,
        "mandate_url": reverse_or_none("billing:mandate"),
        "keep": f"&account={account.pk}",
    }


def account_billing_summary(account: Account) -> dict[str, Any]:
    """The balance and the latest issued bill of ``account`` (for the portal dashboard)."""
    balance = selectors.account_balance(account)
    latest = (
        selectors.bills_of_account(account)
        .filter(kind=Bill.Kind.BILL)
        .only("id", "invoice_number", "issued_at", "due_date", "total", "status", "kind")
        .first()
    )
    return {
        "balance": balance,
        "balance_abs": abs(balance),
        "owes": balance > 0,
        "in_credit": balance < 0,
        "latest_bill": latest,
        "open_amount": selectors.bill_open_amount(latest) if latest else ZERO,
        "currency": settings.WATTLINE_CURRENCY,
    }


# -- the explanation CSV -----------------------------------------------------------------------


def bill_explanation(
    bill: Bill,
) -> tuple[list[explanation.Row], list[explanation.LineSummary]]:
    """Every reading of the bill's period for each of its contracts, priced like the bill.

    Gathers what the bill run gave the rating engine (see ``apps.billing.compute``): each
    contract's part of the period in local days, its tariff's price versions with holidays,
    its discounts, the market prices a dynamic tariff needs, and the stored readings as
    they stood when the bill was computed; then ``explanation.explain`` classifies them. A
    credit note is explained as the negative of its period, from the readings its bill was
    computed from. Raises explanation.ExplanationError if the prices no longer cover the
    period.
    """
    lines = list(bill.lines.order_by("position"))
    numbers = {line.contract_number for line in lines if line.contract_number}
    # The readings as the bill run saw them: corrections and late readings since then
    # belong to a later correction of the bill, not to this one's explanation.
    as_of = (
        bill.original.computed_at
        if bill.kind == Bill.Kind.CREDIT_NOTE and bill.original is not None
        else bill.computed_at
    )
    zone = ZoneInfo(settings.TIME_ZONE)
    bill_start = clock.local_midnight(bill.period_start, zone)
    bill_end = clock.local_midnight(bill.period_end, zone)
    contracts = [
        c
        for c in contract_selectors.contracts_for_account(bill.account).prefetch_related(
            "discounts"
        )
        if c.number in numbers
    ]
    contracts.sort(key=lambda c: (c.start_date, c.pk))
    holidays = tariff_selectors.holidays()
    tariffs = {
        tariff.pk: tariff
        for tariff in tariff_selectors.tariffs_with_prices().filter(
            pk__in={c.tariff_id for c in contracts}
        )
    }
    periods = []
    for contract in contracts:
        tariff = tariffs[contract.tariff_id]
        tz = ZoneInfo(tariff.time_zone)
        start = max(bill_start, clock.local_midnight(contract.start_date, zone))
        end = (
            bill_end
            if contract.end_date is None
            else min(bill_end, clock.local_midnight(contract.end_date, zone))
        )
        if start >= end:
            continue
        versions = tariff_selectors.rating_versions(tariff, holiday_dates=holidays)
        market = None
        if tariff_selectors.is_dynamic(tariff):
            stored = list(tariff.versions.all())
            series = stored[0].market_series if stored else "ES-DA"
            market = tariff_selectors.market_prices(series=series, start=start, end=end)
        readings = [
            explanation.Reading(r.start, r.minutes, r.kwh_import, r.kwh_export, r.quality)
            for r in metering_selectors.interval_rows_as_of(
                supply_point_id=contract.supply_point_id, start=start, end=end, as_of=as_of
            )
        ]
        periods.append(
            explanation.ContractPeriod(
                contract_number=contract.number,
                cups=contract.supply_point.external_id,
                period_start=start,
                period_end=end,
                tz=tz,
                versions=versions,
                readings=readings,
                market_prices=market,
                discounts=contract_selectors.rating_discounts(
                    contract=contract, tz=tz, discounts=list(contract.discounts.all())
                ),
            )
        )
    rows = explanation.explain(periods)
    if bill.kind == Bill.Kind.CREDIT_NOTE:
        rows = explanation.negated(rows)
    facts = [
        explanation.Line(
            position=line.position,
            contract_number=line.contract_number,
            component=line.component,
            period=line.period,
            tier=line.tier,
            version_label=line.version_label,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            starts_at=line.starts_at,
            ends_at=line.ends_at,
            label=line.label,
        )
        for line in lines
    ]
    return rows, explanation.summarise(rows, facts)
