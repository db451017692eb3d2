"""Bill runs end to end (Celery eager): hand-calculated bills, validation, idempotency."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from apps.billing import run as runs
from apps.billing.models import Bill, BillIssue, BillRun, LedgerEntry
from apps.billing.selectors import account_balance
from apps.billing.tests.factories import issued_bill
from apps.contracts.models import Contract, ContractDiscount
from apps.contracts.selectors import rating_discounts
from apps.contracts.tests.factories import (
    make_account,
    make_contract,
    make_supply_point,
    make_tariff,
)
from apps.metering.models import IntervalReading
from apps.metering.partitions import ensure_reading_partitions
from apps.tariffs import rating
from apps.tariffs import selectors as tariff_selectors
from apps.tariffs.models import EnergyRate, PriceVersion

pytestmark = pytest.mark.django_db
MADRID = ZoneInfo("Europe/Madrid")
OCT = dt.date(2026, 10, 1)
NOV = dt.date(2026, 11, 1)
MAR = dt.date(2026, 3, 1)
APR = dt.date(2026, 4, 1)
TOU_DAY = [["P2"] * 8 + ["P1"] * 16] * 12


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=MADRID).astimezone(dt.UTC)


def _readings(
    point, start: dt.date, end: dt.date, *, kwh=None, minutes: int = 60, quality="ACTUAL"
):
    ensure_reading_partitions(first=start - dt.timedelta(days=1), last=end)
    rows = []
    instant, stop = _utc(start), _utc(end)
    step = dt.timedelta(minutes=minutes)
    index = 0
    while instant < stop:
        value = kwh(index, instant) if callable(kwh) else (kwh or Decimal("1.000"))
        rows.append(
            IntervalReading(
                supply_point=point,
                interval_start=instant,
                duration_minutes=minutes,
                kwh_import=value,
                quality=quality,
                received_at=stop,
            )
        )
        instant += step
        index += 1
    IntervalReading.objects.bulk_create(rows, batch_size=5000)
    return rows


@pytest.fixture(autouse=True)
def _on_commit(django_capture_on_commit_callbacks):
    """Run on-commit work (task fan-out, phase completion) as a real commit would."""
    global _capture
    _capture = django_capture_on_commit_callbacks
    yield
    _capture = None


_capture = None


def _committed(function, **kwargs):
    assert _capture is not None
    with _capture(execute=True):
        result = function(**kwargs)
    return result


def _run(period_start: dt.date = OCT, billing_day: int = 1, **kwargs) -> BillRun:
    run = _committed(
        runs.bill_run_create,
        billing_day=billing_day,
        period_start=period_start,
        actor=None,
        **kwargs,
    )
    run.refresh_from_db()
    return run


def _issue(run: BillRun, actor=None) -> BillRun:
    _committed(runs.bill_run_issue, run=BillRun.objects.get(pk=run.pk), actor=actor)
    run.refresh_from_db()
    return run


def _customer_on(tariff, *, user=None, start=dt.date(2025, 1, 1), end=None):
    account = make_account(user)
    point = make_supply_point()
    contract = make_contract(
        account=account, supply_point=point, tariff=tariff, start_date=start, end_date=end
    )
    return account, point, contract


def _lines(bill: Bill) -> list[tuple[str, str, str, Decimal]]:
    return [
        (line.component, line.period, f"{line.quantity.normalize():f}", line.amount)
        for line in bill.lines.order_by("position")
    ]


def test_flat_bill_over_the_autumn_dst_change(customer) -> None:
    tariff = make_tariff("FLAT", rate="0.150000", standing="0.100000", vat="21")
    account, point, _ = _customer_on(tariff, user=customer)
    _readings(point, OCT, NOV)  # 1 kWh every hour; 25 October has 25 hours
    run = _run()
    assert run.status == BillRun.Status.PREVIEWED
    bill = Bill.objects.get(account=account)
    assert bill.status == Bill.Status.DRAFT
    assert _lines(bill) == [
        ("STANDING_CHARGE", "", "31", Decimal("3.10")),
        ("ENERGY", "ALL", "745", Decimal("111.75")),
        ("TAX", "VAT", "21", Decimal("24.12")),  # 21% of 114.85 = 24.1185
    ]
    assert bill.total == Decimal("138.97")
    assert bill.kwh_import == Decimal("745.000")
    assert bill.readings_actual == 745
    assert bill.minutes_expected == bill.minutes_read == 745 * 60
    _issue(run, None)
    run.refresh_from_db()
    bill.refresh_from_db()
    assert run.status == BillRun.Status.ISSUED
    assert bill.status == Bill.Status.ISSUED
    assert bill.invoice_number
    assert account_balance(account) == Decimal("138.97")
    # The document task after issue stored the PDF and the daily series for its chart.
    assert bill.pdf.name.endswith(".pdf")
    assert len(bill.daily_kwh) == 31
    assert bill.daily_kwh[24] == ["2026-10-25", "25.000"]


def test_time_of_use_bill_over_the_spring_dst_change() -> None:
    tariff = make_tariff(
        "TOU", tou={"P1": "0.200000", "P2": "0.100000"}, weekday=TOU_DAY, standing="0.100000"
    )
    account, point, _ = _customer_on(tariff)
    # 15-minute readings of 0.25 kWh: 1 kWh per local hour; 29 March has 23 hours.
    _readings(point, MAR, APR, kwh=Decimal("0.250"), minutes=15)
    _run(MAR)
    bill = Bill.objects.get(account=account)
    # P2 (00-08): 31 days x 8 h - the missing 02:00 hour = 247 kWh; P1: 31 x 16 = 496 kWh.
    assert _lines(bill) == [
        ("STANDING_CHARGE", "", "31", Decimal("3.10")),
        ("ENERGY", "P1", "496", Decimal("99.20")),
        ("ENERGY", "P2", "247", Decimal("24.70")),
    ]
    assert bill.total == Decimal("127.00")


def test_price_change_mid_month_splits_lines() -> None:
    tariff = make_tariff("FLAT2", rate="0.100000", standing="0.000000")
    version = tariff.versions.get()
    PriceVersion.objects.filter(pk=version.pk).update(valid_to=dt.date(2026, 10, 16))
    newer = PriceVersion.objects.create(
        tariff=tariff,
        valid_from=dt.date(2026, 10, 16),
        energy_kind=PriceVersion.EnergyKind.FLAT,
        standing_charge_per_day=Decimal("0"),
        label="from 16 Oct",
    )
    EnergyRate.objects.create(version=newer, rate=Decimal("0.200000"))
    account, point, _ = _customer_on(tariff)
    _readings(point, OCT, NOV)
    _run()
    bill = Bill.objects.get(account=account)
    energy = [(q, a) for c, _p, q, a in _lines(bill) if c == "ENERGY"]
    # 1-15 Oct: 15 x 24 = 360 kWh at 0.10; 16-31 Oct: 16 x 24 + 1 = 385 kWh at 0.20.
    assert energy == [("360", Decimal("36.00")), ("385", Decimal("77.00"))]


def test_tariff_switch_mid_month_gives_two_sets_of_lines() -> None:
    flat = make_tariff("OLD", rate="0.100000", standing="0.100000")
    tou = make_tariff(
        "NEW", tou={"P1": "0.200000", "P2": "0.050000"}, weekday=TOU_DAY, standing="0.200000"
    )
    account = make_account(None)
    point = make_supply_point()
    old = make_contract(
        account=account,
        supply_point=point,
        tariff=flat,
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2026, 10, 11),
        status=Contract.Status.ENDED,
    )
    new = make_contract(
        account=account, supply_point=point, tariff=tou, start_date=dt.date(2026, 10, 11)
    )
    _readings(point, OCT, NOV)
    _run()
    bill = Bill.objects.get(account=account)
    by_contract = {}
    for line in bill.lines.order_by("position"):
        by_contract.setdefault(line.contract_number, []).append(
            (line.component, line.period, line.amount)
        )
    assert by_contract[old.number] == [
        ("STANDING_CHARGE", "", Decimal("1.00")),  # 10 days
        ("ENERGY", "ALL", Decimal("24.00")),  # 240 kWh
    ]
    # 11-31 Oct: 21 days, P2 = 21 x 8 + 1 (25 Oct) = 169 kWh, P1 = 21 x 16 = 336 kWh.
    assert by_contract[new.number] == [
        ("STANDING_CHARGE", "", Decimal("4.20")),
        ("ENERGY", "P1", Decimal("67.20")),
        ("ENERGY", "P2", Decimal("8.45")),
    ]
    assert bill.total == Decimal("104.85")


def test_export_credit_discount_and_vat() -> None:
    tariff = make_tariff("SOLAR", rate="0.200000", standing="0.100000", vat="21")
    PriceVersion.objects.filter(tariff=tariff).update(export_rate=Decimal("0.050000"))
    account, point, contract = _customer_on(tariff)
    ContractDiscount.objects.create(
        contract=contract,
        kind=ContractDiscount.Kind.ENERGY_PERCENT,
        value=Decimal("10"),
        valid_from=dt.date(2026, 1, 1),
        label="Welcome 10%",
    )
    rows = _readings(point, OCT, NOV)
    IntervalReading.objects.filter(supply_point=point).update(kwh_export=Decimal("0.500"))
    assert len(rows) == 745
    _run()
    bill = Bill.objects.get(account=account)
    amounts = {(c, p): a for c, p, _q, a in _lines(bill)}
    assert amounts[("ENERGY", "ALL")] == Decimal("149.00")  # 745 x 0.20
    assert amounts[("EXPORT_CREDIT", "")] == Decimal("-18.63")  # 372.5 x 0.05 = 18.625
    assert amounts[("DISCOUNT", "ALL")] == Decimal("-14.90")  # 10% of 149.00
    # VAT base: standing 3.10 + energy 149.00 (make_tariff's VAT base) = 152.10 -> 31.94.
    assert amounts[("TAX", "VAT")] == Decimal("31.94")
    assert bill.total == Decimal("3.10") + Decimal("149.00") - Decimal("18.63") - Decimal(
        "14.90"
    ) + Decimal("31.94")


def _engine_lines(contract: Contract, readings: list[IntervalReading], start, end):
    tariff = tariff_selectors.tariffs_with_prices().get(pk=contract.tariff_id)
    result = rating.rate(
        versions=tariff_selectors.rating_versions(tariff),
        intervals=[
            rating.Interval(r.interval_start, r.duration_minutes, r.kwh_import, r.kwh_export)
            for r in readings
        ],
        period_start=start,
        period_end=end,
        tz=MADRID,
        discounts=rating_discounts(contract=contract, tz=MADRID),
    )
    return [(line.component, line.period, line.tier, line.amount) for line in result.lines]


@pytest.mark.parametrize("seed", [1, 2])
def test_bucket_rating_equals_rating_every_reading(seed: int) -> None:
    """Aggregating in SQL by (version, period) gives the very lines of rating each reading."""
    rng = random.Random(seed)
    tiered = make_tariff("TIER", rate=None, standing="0.050000")
    version = tiered.versions.get()
    PriceVersion.objects.filter(pk=version.pk).update(energy_kind=PriceVersion.EnergyKind.TIERED)
    EnergyRate.objects.create(
        version=version, tier=1, upto_kwh=Decimal("150"), rate=Decimal("0.11")
    )
    EnergyRate.objects.create(version=version, tier=2, upto_kwh=None, rate=Decimal("0.17"))
    tou = make_tariff("TOU3", tou={"P1": "0.213456", "P2": "0.087654"}, weekday=TOU_DAY)
    cases = []
    for tariff in (tiered, tou):
        account, point, contract = _customer_on(tariff)
        readings = _readings(
            point,
            OCT,
            NOV,
            minutes=15,
            kwh=lambda i, _t: Decimal(rng.randint(0, 900)) / 1000,
        )
        cases.append((account, contract, readings))
    _run()
    for account, contract, readings in cases:
        bill = Bill.objects.get(account=account)
        stored = [
            (line.component, line.period, line.tier, line.amount)
            for line in bill.lines.order_by("position")
        ]
        assert stored == _engine_lines(contract, readings, _utc(OCT), _utc(NOV))


def test_held_bills_name_their_reasons_and_are_not_issued() -> None:
    tariff = make_tariff("FLAT3", rate="0.150000")
    no_readings, _p1, _c1 = _customer_on(tariff)
    gappy, point2, _c2 = _customer_on(tariff)
    _readings(point2, dt.date(2026, 10, 1), dt.date(2026, 10, 20))  # 11 days missing
    estimated, point3, _c3 = _customer_on(tariff)
    _readings(point3, OCT, NOV, quality="ESTIMATED")
    heavy, point4, _c4 = _customer_on(tariff)
    _readings(point4, OCT, NOV, kwh=Decimal("2.000"))
    issued_bill(
        account=heavy, total=Decimal("10.00"), period_start=dt.date(2026, 9, 1), kwh=Decimal("400")
    )
    run = _run()
    codes = {
        account.pk: sorted(
            BillIssue.objects.filter(bill__account=account).values_list("code", flat=True)
        )
        for account in (no_readings, gappy, estimated, heavy)
    }
    assert codes == {
        no_readings.pk: ["NO_READINGS"],
        gappy.pk: ["GAPS"],
        estimated.pk: ["ESTIMATED_SHARE"],
        heavy.pk: ["HIGH_CONSUMPTION"],
    }
    message = BillIssue.objects.get(bill__account=gappy).message
    assert message == "38.8% of the period has no readings (limit 10%)."
    assert runs.bill_run_progress(run)["accounts_held"] == 4
    _issue(run, None)
    assert Bill.objects.filter(run=run, status=Bill.Status.ISSUED).count() == 0
    assert not LedgerEntry.objects.filter(bill__run=run).exists()


def test_release_and_exclude_held_bills(make_user) -> None:
    staff = make_user("bea@wattline.example", role="billing_specialist")
    tariff = make_tariff("FLAT4", rate="0.150000")
    first, point1, _ = _customer_on(tariff)
    _readings(point1, OCT, NOV, quality="ESTIMATED")
    second, point2, _ = _customer_on(tariff)
    _readings(point2, OCT, NOV, quality="ESTIMATED")
    run = _run()
    held_first = Bill.objects.get(account=first)
    held_second = Bill.objects.get(account=second)
    runs.bill_release(bill=held_first, actor=staff)
    runs.bill_exclude(bill=held_second, actor=staff)
    _issue(run, staff)
    held_first.refresh_from_db()
    held_second.refresh_from_db()
    assert held_first.status == Bill.Status.ISSUED
    assert held_second.status == Bill.Status.EXCLUDED
    assert held_second.invoice_number is None
    assert held_first.issues.get().released_by == staff


def test_rerunning_a_run_changes_nothing() -> None:
    tariff = make_tariff("FLAT5", rate="0.150000")
    accounts = []
    for _ in range(3):
        account, point, _c = _customer_on(tariff)
        _readings(point, OCT, NOV)
        accounts.append(account)
    run = _run(chunk_size=2)
    _issue(run)
    before = list(Bill.objects.order_by("id").values_list("id", "invoice_number", "total"))
    ledger = LedgerEntry.objects.count()
    assert runs.bill_run_resume(run=BillRun.objects.get(pk=run.pk)) == 0
    for chunk in run.chunks.all():
        assert runs.bill_run_preview_chunk(chunk_id=chunk.pk) is False
        assert runs.bill_run_issue_chunk(chunk_id=chunk.pk) is False
    with pytest.raises(runs.BillRunError, match="already a run"):
        runs.bill_run_create(billing_day=1, period_start=OCT, actor=None)
    assert list(Bill.objects.order_by("id").values_list("id", "invoice_number", "total")) == before
    assert LedgerEntry.objects.count() == ledger == 3
    assert sorted(n for _i, n, _t in before) == ["F2026-000001", "F2026-000002", "F2026-000003"]


def test_diff_against_last_bill_lists_largest_changes() -> None:
    tariff = make_tariff("FLAT6", rate="0.100000", standing="0.000000")
    small, p1, _ = _customer_on(tariff)
    big, p2, _ = _customer_on(tariff)
    _readings(p1, OCT, NOV)  # 74.50
    _readings(p2, OCT, NOV, kwh=Decimal("1.500"))  # 111.75 (ratio under 3x)
    issued_bill(
        account=small, total=Decimal("70.00"), period_start=dt.date(2026, 9, 1), kwh=Decimal("700")
    )
    issued_bill(
        account=big, total=Decimal("50.00"), period_start=dt.date(2026, 9, 1), kwh=Decimal("500")
    )
    run = _run()
    changes = runs.largest_changes(run)
    assert [(b.account_id, b.total - b.previous_total) for b in changes] == [
        (big.pk, Decimal("61.75")),
        (small.pk, Decimal("4.50")),
    ]
    assert changes[0].previous_kwh == Decimal("500.000")


def test_accounts_of_other_billing_days_and_without_supply_are_not_in_the_run() -> None:
    tariff = make_tariff("FLAT7", rate="0.100000")
    _in, point, _ = _customer_on(tariff)
    _readings(point, OCT, NOV)
    other_day, _p, _c = _customer_on(tariff)
    other_day.billing_day = 15
    other_day.save()
    _customer_on(tariff, start=dt.date(2026, 11, 1))  # supply starts after the period
    run = _run()
    assert run.accounts_total == 1
    assert Bill.objects.filter(run=run).count() == 1


def test_tiered_bill_by_hand() -> None:
    tariff = make_tariff("TIERH", rate=None, standing="0.000000")
    version = tariff.versions.get()
    PriceVersion.objects.filter(pk=version.pk).update(energy_kind=PriceVersion.EnergyKind.TIERED)
    EnergyRate.objects.create(
        version=version, tier=1, upto_kwh=Decimal("300"), rate=Decimal("0.110000")
    )
    EnergyRate.objects.create(version=version, tier=2, upto_kwh=None, rate=Decimal("0.170000"))
    account, point, _ = _customer_on(tariff)
    _readings(point, OCT, NOV)  # 745 kWh
    _run()
    bill = Bill.objects.get(account=account)
    assert [
        (line.tier, line.quantity, line.amount) for line in bill.lines.order_by("position")
    ] == [
        (1, Decimal("300"), Decimal("33.00")),
        (2, Decimal("445"), Decimal("75.65")),
    ]
    assert bill.total == Decimal("108.65")


def test_correcting_an_issued_bill_credits_it_and_issues_a_new_one(make_user) -> None:
    staff = make_user("carla@wattline.example", role="billing_specialist")
    tariff = make_tariff("FLATC", rate="0.100000", standing="0.000000")
    account, point, _ = _customer_on(tariff)
    _readings(point, OCT, NOV)
    run = _run()
    _issue(run)
    original = Bill.objects.get(account=account)
    assert original.total == Decimal("74.50")
    # A meter correction arrives: one day read 24 kWh too little.
    IntervalReading.objects.filter(
        supply_point=point,
        interval_start__gte=_utc(dt.date(2026, 10, 5)),
        interval_start__lt=_utc(dt.date(2026, 10, 6)),
    ).update(kwh_import=Decimal("2.000"), quality="CORRECTED")
    with _capture(execute=True):
        note, corrected = runs.bill_correct(bill=original, actor=staff, reason="meter corrected")
    original.refresh_from_db()
    assert original.status == Bill.Status.CREDITED
    assert (note.invoice_number, note.total) == ("A2026-000001", Decimal("-74.50"))
    assert corrected is not None
    assert (corrected.invoice_number, corrected.total) == ("F2026-000002", Decimal("76.90"))
    assert corrected.status == Bill.Status.ISSUED
    assert account_balance(account) == Decimal("76.90")
