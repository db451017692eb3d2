"""The bill explanation: every reading classified like the rating engine, adding up to the cent.

The first half is pure (no database): ``explain`` against ``rating.rate`` on generated tariffs
and readings. The second half issues real bills from real readings and downloads the CSV.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.billing.explanation import (
    ContractPeriod,
    ExplanationError,
    Line,
    Reading,
    explain,
    summarise,
)
from apps.core.money import round_money
from apps.tariffs import rating
from apps.tariffs.rating import (
    DYNAMIC_ENERGY,
    ENERGY,
    EXPORT_CREDIT,
    Discount,
    DynamicEnergy,
    EnergyStructure,
    Interval,
    PriceVersion,
    Tier,
    repeat_monthly,
)

D = Decimal
UTC = dt.UTC
MADRID = ZoneInfo("Europe/Madrid")
LONG_AGO = dt.datetime(2020, 1, 1, tzinfo=UTC)
ZONES = [MADRID, ZoneInfo("America/Chicago"), ZoneInfo("Asia/Kolkata")]
FAST = settings(max_examples=80, deadline=None)

rates = st.integers(0, 400_000).map(lambda n: D(n).scaleb(-6))
kwh_values = st.integers(0, 5_000).map(lambda n: D(n).scaleb(-3))


@st.composite
def tier_lists(draw: st.DrawFn) -> list[Tier]:
    bounds = sorted(draw(st.sets(st.integers(1, 60), max_size=2)))
    return [*(Tier(D(bound), draw(rates)) for bound in bounds), Tier(None, draw(rates))]


@st.composite
def energy_charges(draw: st.DrawFn) -> EnergyStructure | DynamicEnergy:
    kind = draw(st.sampled_from(["flat", "tiered", "tou", "dynamic"]))
    if kind == "flat":
        return EnergyStructure.flat(draw(rates))
    if kind == "tiered":
        return EnergyStructure.tiered(draw(tier_lists()))
    if kind == "dynamic":
        return DynamicEnergy(D("1.1"), draw(rates), draw(st.none() | st.just(D(0))), None)
    keys = ["P1", "P2", "P3"]
    periods = {key: draw(tier_lists()) for key in keys}
    weekday = draw(st.lists(st.sampled_from(keys), min_size=24, max_size=24))
    weekend = draw(st.lists(st.sampled_from(keys), min_size=24, max_size=24))
    return EnergyStructure.time_of_use(periods, repeat_monthly(weekday), repeat_monthly(weekend))


def market_prices(start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, Decimal]:
    first = start.replace(minute=0) - dt.timedelta(hours=1)
    hours = int((end - first) / dt.timedelta(hours=1)) + 2
    return {first + dt.timedelta(hours=h): D((h * 37) % 90 - 10).scaleb(-3) for h in range(hours)}


def lines_of(result: rating.RatingResult, contract_number: str) -> list[Line]:
    return [
        Line(
            position=position,
            contract_number=contract_number,
            component=line.component,
            period=line.period,
            tier=line.tier,
            version_label=line.version_label,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            starts_at=line.starts_at,
            ends_at=line.ends_at,
        )
        for position, line in enumerate(result.lines, start=1)
    ]


def check_adds_up(contract: ContractPeriod) -> list[Line]:
    """Rate with the engine, explain, and compare every interval-priced line exactly."""
    result = rating.rate(
        versions=contract.versions,
        intervals=[
            Interval(r.start, r.minutes, r.kwh_import, r.kwh_export) for r in contract.readings
        ],
        period_start=contract.period_start,
        period_end=contract.period_end,
        tz=contract.tz,
        market_prices=contract.market_prices,
        discounts=contract.discounts,
    )
    lines = lines_of(result, contract.contract_number)
    rows = explain([contract])
    summaries = summarise(rows, lines)
    explained = [s for s in summaries if s.explained]
    assert len(explained) == sum(
        1 for line in result.lines if line.component in (ENERGY, DYNAMIC_ENERGY, EXPORT_CREDIT)
    )
    for summary in explained:
        assert summary.rows > 0
        assert summary.rounded == summary.line.amount, summary
        if summary.line.component != DYNAMIC_ENERGY:
            # tiers and periods get exactly the engine's quantity, not just the right cents
            assert summary.kwh == summary.line.quantity, summary
        else:
            assert summary.kwh == summary.line.quantity
    # every row belongs to a line, or is a zero reading
    keys = {line.key for line in lines}
    assert all(row.line_key in keys or row.amount == 0 for row in rows)
    # nothing is lost: energy rows add up to all imported energy in the period
    energy = sum((r.kwh for r in rows if r.component in (ENERGY, DYNAMIC_ENERGY)), D(0))
    assert energy == result.kwh_import_total
    return lines


@st.composite
def contracts(draw: st.DrawFn) -> ContractPeriod:
    tz = draw(st.sampled_from(ZONES))
    first = dt.date(2026, 1, 1) + dt.timedelta(days=draw(st.integers(0, 362)))
    days = draw(st.integers(1, 3))
    start = dt.datetime.combine(first, dt.time(), tzinfo=tz).astimezone(UTC)
    end = dt.datetime.combine(first + dt.timedelta(days=days), dt.time(), tzinfo=tz).astimezone(UTC)
    energy = draw(energy_charges())
    export_rate = draw(st.none() | rates)
    versions = [PriceVersion(LONG_AGO, None, D("0.13"), energy, export_rate, label="v1")]
    if draw(st.booleans()):  # a price change at any second of the period
        change = start + dt.timedelta(
            seconds=draw(st.integers(1, int((end - start).total_seconds()) - 1))
        )
        versions = [
            PriceVersion(LONG_AGO, change, D("0.13"), energy, export_rate, label="old"),
            PriceVersion(change, None, D("0.2"), draw(energy_charges()), export_rate, label="new"),
        ]
    discounts: list[Discount] = []
    if draw(st.booleans()):
        hours = int((end - start) / dt.timedelta(hours=1))
        low = start + dt.timedelta(hours=draw(st.integers(0, hours - 1)))
        discounts.append(Discount("ENERGY_PERCENT", D(10), low, low + dt.timedelta(hours=7)))
    minutes = draw(st.sampled_from([15, 30, 60]))
    offset = dt.timedelta(minutes=draw(st.sampled_from([0, 0, 30])))  # some straddle hours
    count = int((end - start) / dt.timedelta(minutes=minutes))
    kwh = draw(st.lists(kwh_values, min_size=count, max_size=count))
    exports = draw(st.lists(kwh_values, min_size=count, max_size=count))
    readings = [
        Reading(
            start + offset + dt.timedelta(minutes=minutes * n),
            minutes,
            value,
            exports[n] if export_rate is not None else D(0),
            "ACTUAL" if n % 5 else "ESTIMATED",
        )
        for n, value in enumerate(kwh)
    ]
    return ContractPeriod(
        contract_number="C-1",
        cups="ES0021000000000001AB",
        period_start=start,
        period_end=end,
        tz=tz,
        versions=versions,
        readings=readings,
        market_prices=market_prices(start, end),
        discounts=discounts,
    )


@FAST
@given(contract=contracts())
def test_explanation_adds_up_to_every_line_for_any_tariff_and_readings(
    contract: ContractPeriod,
) -> None:
    check_adds_up(contract)


def _hourly(start: dt.datetime, kwh: list[str], **extra: object) -> list[Reading]:
    return [
        Reading(start + dt.timedelta(hours=h), 60, D(value), **extra)  # type: ignore[arg-type]
        for h, value in enumerate(kwh)
    ]


def test_tiered_reading_shares_follow_the_tier_proportions() -> None:
    """100 kWh in the first 50-kWh block and beyond: each reading half in tier 1, half in 2."""
    start = dt.datetime(2026, 3, 2, tzinfo=MADRID).astimezone(UTC)
    energy = EnergyStructure.tiered([Tier(D(50), D("0.10")), Tier(None, D("0.20"))])
    contract = ContractPeriod(
        contract_number="C-T",
        cups="ES1",
        period_start=start,
        period_end=start + dt.timedelta(hours=4),
        tz=MADRID,
        versions=[PriceVersion(LONG_AGO, None, D(0), energy, label="tiers")],
        readings=_hourly(start, ["10", "20", "30", "40"], quality="ACTUAL"),
    )
    rows = explain([contract])
    assert [(r.interval_start.astimezone(MADRID).hour, r.tier, r.kwh) for r in rows] == [
        (0, 1, D("5.000000000")),
        (0, 2, D("5.000000000")),
        (1, 1, D("10.000000000")),
        (1, 2, D("10.000000000")),
        (2, 1, D("15.000000000")),
        (2, 2, D("15.000000000")),
        (3, 1, D(20)),
        (3, 2, D(20)),
    ]
    assert [r.amount for r in rows if r.interval_start == start] == [D("0.5"), D("1.0")]
    lines = check_adds_up(contract)
    assert [(ln.tier, ln.quantity, ln.amount) for ln in lines if ln.component == ENERGY] == [
        (1, D(50), D("5.00")),
        (2, D(50), D("10.00")),
    ]


def test_time_of_use_on_the_autumn_dst_day_uses_local_hours() -> None:
    """25 local hours on 25 Oct 2026 in Madrid: 02:00 happens twice, both in the same period."""
    day = dt.date(2026, 10, 25)
    start = dt.datetime.combine(day, dt.time(), tzinfo=MADRID).astimezone(UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=MADRID)
    hours = int((end.astimezone(UTC) - start) / dt.timedelta(hours=1))
    assert hours == 25
    schedule = ["P3"] * 2 + ["P2"] * 1 + ["P3"] * 5 + ["P1"] * 16
    energy = EnergyStructure.time_of_use(
        {"P1": D("0.30"), "P2": D("0.20"), "P3": D("0.10")}, repeat_monthly(schedule)
    )
    contract = ContractPeriod(
        contract_number="C-D",
        cups="ES1",
        period_start=start,
        period_end=end.astimezone(UTC),
        tz=MADRID,
        versions=[PriceVersion(LONG_AGO, None, D(0), energy, label="tou")],
        readings=_hourly(start, ["1.111"] * hours),
    )
    rows = explain([contract])
    local_twos = [r for r in rows if r.interval_start.astimezone(MADRID).hour == 2]
    assert [r.period for r in local_twos] == ["P2", "P2"]
    assert [r.period for r in rows].count("P3") == 2 + 5  # hours 0, 1 and 3..7
    check_adds_up(contract)


def test_missing_market_price_is_an_explanation_error() -> None:
    start = dt.datetime(2026, 3, 2, tzinfo=UTC)
    contract = ContractPeriod(
        contract_number="C-X",
        cups="ES1",
        period_start=start,
        period_end=start + dt.timedelta(hours=2),
        tz=MADRID,
        versions=[PriceVersion(LONG_AGO, None, D(0), DynamicEnergy(D(1), D(0)))],
        readings=_hourly(start, ["1", "1"]),
        market_prices={start: D("0.1")},
    )
    with pytest.raises(ExplanationError, match="market price"):
        explain([contract])


def test_a_wrong_line_is_reported_as_not_matching() -> None:
    start = dt.datetime(2026, 3, 2, tzinfo=MADRID).astimezone(UTC)
    contract = ContractPeriod(
        contract_number="C-F",
        cups="ES1",
        period_start=start,
        period_end=start + dt.timedelta(hours=2),
        tz=MADRID,
        versions=[PriceVersion(LONG_AGO, None, D(0), EnergyStructure.flat(D("0.123")), label="f")],
        readings=_hourly(start, ["1.5", "2.25"]),
    )
    (line,) = [ln for ln in check_adds_up(contract) if ln.component == ENERGY]
    assert line.amount == round_money(D("3.75") * D("0.123")) == D("0.46")
    wrong = Line(**{**{f: getattr(line, f) for f in line.__slots__}, "amount": D("0.47")})  # type: ignore[attr-defined]
    (summary,) = summarise(explain([contract]), [wrong])
    assert summary.amount == D("0.46125")
    assert summary.matches is False


# -- the CSV download, on bills issued by the bill run -----------------------------------------

OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
TOU_DAY = [["P2"] * 8 + ["P1"] * 10 + ["P3"] * 4 + ["P1"] * 2] * 12
EXPLAINED = {"ENERGY", "DYNAMIC_ENERGY", "EXPORT_CREDIT"}


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=MADRID).astimezone(UTC)


def _store_readings(point: Any, *, minutes: int = 15, export: bool = False, scale: int = 1) -> int:
    """Irregular readings over October (both DST-free and the 25-hour 25 October)."""
    from apps.metering.models import IntervalReading
    from apps.metering.partitions import ensure_reading_partitions

    ensure_reading_partitions(first=OCT - dt.timedelta(days=1), last=NOV)
    rows = []
    instant, stop, index = _utc(OCT), _utc(NOV), 0
    while instant < stop:
        kwh = scale * D((index * 37) % 411 + 13).scaleb(-3)  # 0.013 .. 0.423 kWh (x scale)
        rows.append(
            IntervalReading(
                supply_point=point,
                interval_start=instant,
                duration_minutes=minutes,
                kwh_import=kwh,
                kwh_export=D((index * 11) % 97).scaleb(-3) if export else D(0),
                quality="ESTIMATED" if index % 9 == 0 else "ACTUAL",
                received_at=stop,
            )
        )
        instant += dt.timedelta(minutes=minutes)
        index += 1
    IntervalReading.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


def _issue_october(capture: Any) -> None:
    from apps.billing import run as runs
    from apps.billing.models import BillRun

    with capture(execute=True):
        created = runs.bill_run_create(billing_day=1, period_start=OCT, actor=None)
    with capture(execute=True):
        runs.bill_run_issue(run=BillRun.objects.get(pk=created.pk), actor=None)


def _csv(client: Any, bill: Any) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    import csv
    import io

    from django.urls import reverse

    response = client.get(reverse("billing:bill_explanation", args=[bill.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode()
    detail, _gap, summary = text.partition("\r\n\r\n")
    rows = list(csv.DictReader(io.StringIO(detail)))
    summary_lines = summary.splitlines()
    assert summary_lines[0] == "Summary per bill line"
    return rows, list(csv.DictReader(io.StringIO("\n".join(summary_lines[1:]))))


def _assert_csv_adds_up(client: Any, bill: Any, *, readings: int) -> list[dict[str, str]]:
    rows, summary = _csv(client, bill)
    lines = list(bill.lines.order_by("position"))
    explained = [line for line in lines if line.component in EXPLAINED]
    assert explained
    # every row names its bill line; each line's rows, rounded once, make the line
    by_line: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_line.setdefault(row["bill_line"], []).append(row)
    for line in explained:
        mine = by_line.pop(str(line.position))
        assert round_money(sum((D(r["amount"]) for r in mine), D(0))) == line.amount, line
        # quantities are stored with 8 places; the rows carry the engine's 9
        assert abs(sum((D(r["kwh"]) for r in mine), D(0)) - line.quantity) <= D("5e-9"), line
    assert set(by_line) <= {""}  # rows of no line are zero readings
    assert all(D(r["amount"]) == 0 for r in by_line.get("", []))
    # grouped by (contract, component, period, tier, version): where one line has the key
    # (no discount window splits it), the group's rows rounded once make that line
    groups: dict[tuple[str, ...], list[Decimal]] = {}
    for row in rows:
        key = (
            row["contract"],
            row["component"],
            row["tou_period"],
            row["tier"],
            row["price_version"],
        )
        groups.setdefault(key, []).append(D(row["amount"]))
    lines_of_key: dict[tuple[str, ...], list[Any]] = {}
    for line in explained:
        key = (
            line.contract_number,
            line.component,
            "" if line.period in ("", "ALL") else line.period,
            "" if line.tier is None else str(line.tier),
            line.version_label,
        )
        lines_of_key.setdefault(key, []).append(line)
    single = {key: found[0] for key, found in lines_of_key.items() if len(found) == 1}
    assert single
    for key, line in single.items():
        assert round_money(sum(groups[key], D(0))) == line.amount, key
    # every stored reading appears (at least once) with its quality and local start
    starts = {(r["contract"], r["interval_start_local"]) for r in rows}
    assert len(starts) == readings
    assert {r["quality"] for r in rows} == {"ACTUAL", "ESTIMATED"}
    assert all(r["interval_start_local"].endswith(("+01:00", "+02:00")) for r in rows)
    assert [s["line"] for s in summary] == [str(line.position) for line in lines]
    assert {s["matches"] for s in summary if s["component"] in EXPLAINED} == {"yes"}
    return rows


@pytest.fixture
def billing_setup(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.BILLING_RENDER_PDFS = False


@pytest.mark.django_db
def test_explanation_csv_adds_up_for_flat_tiered_tou_and_dynamic_bills(
    customer: Any, billing_setup: None, django_capture_on_commit_callbacks: Any
) -> None:
    from django.test import Client

    from apps.billing.models import Bill
    from apps.contracts.models import Contract, ContractDiscount
    from apps.contracts.tests.factories import (
        make_account,
        make_contract,
        make_supply_point,
        make_tariff,
    )
    from apps.tariffs.models import EnergyRate, MarketPrice
    from apps.tariffs.models import PriceVersion as StoredVersion

    # flat, with solar export, VAT and a 10 % discount that starts on 10 October
    flat = make_tariff("X-FLAT", rate="0.151234", standing="0.104000", vat="21")
    StoredVersion.objects.filter(tariff=flat).update(export_rate=D("0.052100"))
    flat_account = make_account(customer, name="Flat")
    flat_point = make_supply_point()
    flat_contract = make_contract(
        account=flat_account, supply_point=flat_point, tariff=flat, start_date=dt.date(2025, 1, 1)
    )
    ContractDiscount.objects.create(
        contract=flat_contract,
        kind=ContractDiscount.Kind.ENERGY_PERCENT,
        value=D(10),
        valid_from=dt.date(2026, 10, 10),
        label="Welcome 10%",
    )
    flat_readings = _store_readings(flat_point, export=True)

    # tiered, with a price change on 16 October (new blocks and rates)
    tiered = make_tariff("X-TIER", rate=None, standing="0.100000")
    old = StoredVersion.objects.get(tariff=tiered)
    StoredVersion.objects.filter(pk=old.pk).update(
        energy_kind=StoredVersion.EnergyKind.TIERED, valid_to=dt.date(2026, 10, 16)
    )
    for tier, upto, rate in ((1, "100", "0.100000"), (2, "300", "0.153333"), (3, None, "0.201111")):
        EnergyRate.objects.create(
            version=old, tier=tier, upto_kwh=D(upto) if upto else None, rate=D(rate)
        )
    newer = StoredVersion.objects.create(
        tariff=tiered,
        valid_from=dt.date(2026, 10, 16),
        energy_kind=StoredVersion.EnergyKind.TIERED,
        standing_charge_per_day=D("0.110000"),
        label="from 16 Oct",
    )
    for tier, upto, rate in ((1, "150", "0.111111"), (2, None, "0.177777")):
        EnergyRate.objects.create(
            version=newer, tier=tier, upto_kwh=D(upto) if upto else None, rate=D(rate)
        )
    tier_account = make_account(customer, name="Tiered")
    tier_point = make_supply_point()
    make_contract(
        account=tier_account, supply_point=tier_point, tariff=tiered, start_date=dt.date(2025, 1, 1)
    )
    tier_readings = _store_readings(tier_point, minutes=60, scale=4)

    # a switch from flat to time of use on 11 October: two contracts on one bill
    tou = make_tariff(
        "X-TOU",
        tou={"P1": "0.231234", "P2": "0.091111", "P3": "0.152222"},
        weekday=TOU_DAY,
        weekend=[["P2"] * 24] * 12,
        standing="0.100000",
        vat="21",
    )
    tou_account = make_account(customer, name="Time of use")
    tou_point = make_supply_point()
    make_contract(
        account=tou_account,
        supply_point=tou_point,
        tariff=make_tariff("X-OLD", rate="0.140000"),
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2026, 10, 11),
        status=Contract.Status.ENDED,
    )
    make_contract(
        account=tou_account, supply_point=tou_point, tariff=tou, start_date=dt.date(2026, 10, 11)
    )
    tou_readings = _store_readings(tou_point)

    # dynamic: hourly market prices, some negative
    dynamic = make_tariff("X-DYN", dynamic=("1.100000", "0.012345"), standing="0.100000")
    hour, stop, n = _utc(OCT), _utc(NOV), 0
    prices = []
    while hour < stop:
        prices.append(
            MarketPrice(
                series="ES-DA", starts_at=hour, price_per_kwh=D((n * 37) % 150 - 20).scaleb(-3)
            )
        )
        hour += dt.timedelta(hours=1)
        n += 1
    MarketPrice.objects.bulk_create(prices)
    dyn_account = make_account(customer, name="Dynamic")
    dyn_point = make_supply_point()
    make_contract(
        account=dyn_account, supply_point=dyn_point, tariff=dynamic, start_date=dt.date(2025, 1, 1)
    )
    dyn_readings = _store_readings(dyn_point)

    _issue_october(django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(customer)

    flat_bill = Bill.objects.get(account=flat_account, status=Bill.Status.ISSUED)
    rows = _assert_csv_adds_up(client, flat_bill, readings=flat_readings)
    components = {line.component for line in flat_bill.lines.all()}
    assert {"ENERGY", "EXPORT_CREDIT", "DISCOUNT", "TAX"} <= components
    assert len([ln for ln in flat_bill.lines.all() if ln.component == "ENERGY"]) == 2  # window
    assert {r["component"] for r in rows} == {"ENERGY", "EXPORT_CREDIT"}

    tier_bill = Bill.objects.get(account=tier_account, status=Bill.Status.ISSUED)
    rows = _assert_csv_adds_up(client, tier_bill, readings=tier_readings)
    tiers = {(r["price_version"], r["tier"]) for r in rows}
    assert {tier for _v, tier in tiers} == {"1", "2", "3"}
    assert len({version for version, _t in tiers}) == 2
    # a tiered reading is shared out in the tiers' proportions
    first = [r for r in rows if r["interval_start_local"] == "2026-10-01T00:00:00+02:00"]
    assert [r["tier"] for r in first] == ["1", "2", "3"]

    tou_bill = Bill.objects.get(account=tou_account, status=Bill.Status.ISSUED)
    rows = _assert_csv_adds_up(client, tou_bill, readings=tou_readings)
    assert {r["tou_period"] for r in rows} == {"", "P1", "P2", "P3"}
    assert len({r["contract"] for r in rows}) == 2
    twice = [r for r in rows if r["interval_start_local"].startswith("2026-10-25T02:")]
    assert len(twice) == 8
    assert {r["tou_period"] for r in twice} == {"P2"}

    dyn_bill = Bill.objects.get(account=dyn_account, status=Bill.Status.ISSUED)
    rows = _assert_csv_adds_up(client, dyn_bill, readings=dyn_readings)
    assert {r["component"] for r in rows} == {"DYNAMIC_ENERGY"}
    assert len({r["unit_price"] for r in rows}) > 100  # a price per hour


@pytest.mark.django_db
def test_credit_note_explanation_is_the_negative_of_its_bill(
    customer: Any, billing_setup: None, django_capture_on_commit_callbacks: Any
) -> None:
    from django.test import Client

    from apps.billing.issuing import bill_credit
    from apps.billing.models import Bill
    from apps.contracts.tests.factories import (
        make_account,
        make_contract,
        make_supply_point,
        make_tariff,
    )

    tariff = make_tariff(
        "X-TOU2", tou={"P1": "0.231234", "P2": "0.091111", "P3": "0.152222"}, weekday=TOU_DAY
    )
    account = make_account(customer)
    point = make_supply_point()
    make_contract(
        account=account, supply_point=point, tariff=tariff, start_date=dt.date(2025, 1, 1)
    )
    readings = _store_readings(point)
    _issue_october(django_capture_on_commit_callbacks)
    bill = Bill.objects.get(account=account)
    note = bill_credit(
        bill=bill, actor=None, reason="test", now=dt.datetime(2026, 11, 20, tzinfo=UTC)
    )
    client = Client()
    client.force_login(customer)
    bill_rows, _ = _csv(client, bill)
    note_rows = _assert_csv_adds_up(client, note, readings=readings)
    assert [D(r["amount"]) for r in note_rows] == [-D(r["amount"]) for r in bill_rows]


@pytest.mark.django_db
def test_explanation_shows_the_readings_the_bill_was_computed_from(
    customer: Any, billing_setup: None, django_capture_on_commit_callbacks: Any
) -> None:
    """A correction or a late reading after the bill run does not unbalance its CSV."""
    import io

    from django.test import Client

    from apps.billing.models import Bill
    from apps.contracts.tests.factories import (
        make_account,
        make_contract,
        make_supply_point,
        make_tariff,
    )
    from apps.metering.ingestion import csv_candidates, ingest_candidates
    from apps.metering.models import IntervalReading, ReadingRevision

    tariff = make_tariff("X-FLAT3", rate="0.151234", standing="0.104000")
    account = make_account(customer)
    point = make_supply_point()
    make_contract(
        account=account, supply_point=point, tariff=tariff, start_date=dt.date(2025, 1, 1)
    )
    readings = _store_readings(point)
    estimated = _utc(OCT)  # index 0 is ESTIMATED
    missing = _utc(OCT) + dt.timedelta(hours=5)
    IntervalReading.objects.filter(supply_point=point, interval_start=missing).delete()
    _issue_october(django_capture_on_commit_callbacks)
    bill = Bill.objects.get(account=account, status=Bill.Status.ISSUED)
    client = Client()
    client.force_login(customer)
    before, _summary = _csv(client, bill)

    late = (
        "supply_point,interval_start,duration_minutes,kwh_import\n"
        f"{point.external_id},{estimated.isoformat()},15,0.900\n"
        f"{point.external_id},{missing.isoformat()},15,0.700\n"
    )
    report = ingest_candidates(csv_candidates(io.StringIO(late)), source="CSV")
    assert (report.corrected, report.inserted) == (1, 1), report
    assert ReadingRevision.objects.get(supply_point=point).old_kwh_import == D("0.013")

    after = _assert_csv_adds_up(client, bill, readings=readings - 1)
    assert after == before
    first = [r for r in after if r["interval_start_local"] == "2026-10-01T00:00:00+02:00"]
    assert [(r["kwh"], r["quality"]) for r in first] == [("0.013", "ESTIMATED")]
