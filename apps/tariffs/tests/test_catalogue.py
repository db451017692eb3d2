"""Visitors compare tariffs in the public catalogue: rates and conditions laid out plainly."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.tariffs.models import PriceVersion, Tariff
from apps.tariffs.tests.helpers import make_tariff, make_version

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)
VAT_BASE = ["STANDING_CHARGE", "ENERGY", "EXPORT_CREDIT", "IEE"]


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def _flat() -> Tariff:
    tariff = make_tariff(
        "green-flat",
        name="Green Flat",
        description="One price at every hour, from renewable sources.",
        contract_months=12,
        exit_fee=Decimal("30.00"),
        green_share_percent=Decimal(100),
    )
    taxes = [
        ("IEE", "Electricity tax", Decimal("5.11269632"), ["STANDING_CHARGE", "ENERGY"]),
        ("VAT", "VAT", Decimal(21), VAT_BASE),
    ]
    make_version(
        tariff,
        valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 9, 1),
        standing_charge_per_day=Decimal("0.32"),
        export_rate=Decimal("0.05"),
        rates=[("ALL", 1, None, Decimal("0.15"))],
        taxes=taxes,
    )
    make_version(
        tariff,
        valid_from=dt.date(2026, 9, 1),
        label="Autumn 2026",
        standing_charge_per_day=Decimal("0.30"),
        rates=[("ALL", 1, None, Decimal("0.139"))],
        taxes=taxes,
    )
    return tariff


def _schedule(winter: range, summer: range) -> list[list[str]]:
    rows = []
    for month in range(1, 13):
        peak = summer if 6 <= month <= 9 else winter
        rows.append(["PEAK" if hour in peak else "OFF" for hour in range(24)])
    return rows


def _tou() -> Tariff:
    tariff = make_tariff("night-tou", name="Night Saver", contract_months=0)
    make_version(
        tariff,
        valid_from=dt.date(2026, 1, 1),
        energy_kind=PriceVersion.EnergyKind.TIME_OF_USE,
        standing_charge_per_day=Decimal("0.28"),
        weekday_schedule=_schedule(range(8, 22), range(10, 20)),
        weekend_schedule=[["OFF"] * 24 for _ in range(12)],
        rates=[
            ("OFF", 1, None, Decimal("0.09"), "Off-peak"),
            ("PEAK", 1, None, Decimal("0.24"), "Peak"),
        ],
    )
    return tariff


def _tiered() -> Tariff:
    tariff = make_tariff("block-tiered", name="Blocks", segment="RESIDENTIAL")
    make_version(
        tariff,
        valid_from=dt.date(2026, 1, 1),
        energy_kind=PriceVersion.EnergyKind.TIERED,
        standing_charge_per_day=Decimal("0.2"),
        rates=[("ALL", 1, Decimal(150), Decimal("0.10")), ("ALL", 2, None, Decimal("0.14"))],
    )
    return tariff


def _dynamic() -> Tariff:
    tariff = make_tariff("market-dynamic", name="Market Tracker", segment="SME")
    make_version(
        tariff,
        valid_from=dt.date(2026, 1, 1),
        energy_kind=PriceVersion.EnergyKind.DYNAMIC,
        standing_charge_per_day=Decimal("0.25"),
        dynamic_factor=Decimal("1.05"),
        dynamic_margin=Decimal("0.015"),
        dynamic_floor=Decimal("0.05"),
        dynamic_cap=Decimal("0.35"),
    )
    return tariff


def _hidden() -> Tariff:
    tariff = make_tariff("staff-only", name="Staff Only", is_public=False)
    make_version(tariff, valid_from=dt.date(2026, 1, 1), rates=[("ALL", 1, None, Decimal("0.01"))])
    return tariff


def _expired() -> Tariff:
    tariff = make_tariff(
        "old-fixed",
        name="Old Fixed",
        available_from=dt.date(2024, 1, 1),
        available_to=dt.date(2026, 1, 1),
    )
    make_version(tariff, valid_from=dt.date(2024, 1, 1), rates=[("ALL", 1, None, Decimal("0.2"))])
    return tariff


def _text(html: str) -> str:
    """Visible text with tags removed and whitespace collapsed."""
    inline = re.sub(r"</?(span|a|strong)\b[^>]*>", "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inline)).strip()


def test_visitor_sees_every_open_public_tariff_with_its_main_prices() -> None:
    for make in (_flat, _tou, _tiered, _dynamic, _hidden, _expired):
        make()
    response = Client().get(reverse("tariff_list"))
    assert response.status_code == 200
    names = [row.tariff.name for row in response.context["tariffs"]]
    assert names == ["Blocks", "Green Flat", "Market Tracker", "Night Saver"]
    text = _text(response.content.decode())
    assert "Staff Only" not in text
    assert "Old Fixed" not in text
    assert (
        "Green Flat Energy charge Flat rate Standing charge 0.320000 € per day "
        "Energy 0.150000 €/kWh Renewable energy 100 % Contract length 12 months Exit fee 30.00 €"
    ) in text
    assert (
        "Blocks Energy charge Tiered by monthly kWh Standing charge 0.200000 € per day "
        "Energy First 150 kWh a month: 0.100000 €/kWh; Above 150 kWh a month: 0.140000 €/kWh"
    ) in text
    assert "Off-peak: 0.090000 €/kWh Peak: 0.240000 €/kWh" in text
    assert "Contract length No fixed term Exit fee None" in text
    assert (
        "Hourly market price × 1.05 + 0.015000 €/kWh "
        "(never below 0.050000 €/kWh, never above 0.350000 €/kWh)"
    ) in text
    assert "Price change New prices from Sept. 1, 2026." in text


def test_visitor_filters_the_catalogue_by_customer_type() -> None:
    for make in (_flat, _tiered, _dynamic):
        make()
    response = Client().get(reverse("tariff_list"), {"segment": "RESIDENTIAL"})
    assert [row.tariff.code for row in response.context["tariffs"]] == [
        "block-tiered",
        "green-flat",
    ]
    response = Client().get(reverse("tariff_list"), {"segment": "SME"})
    assert [row.tariff.code for row in response.context["tariffs"]] == [
        "green-flat",
        "market-dynamic",
    ]


def test_catalogue_list_runs_a_fixed_number_of_queries(django_assert_max_num_queries: Any) -> None:
    _flat()
    _tou()
    client = Client()
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("tariff_list"))
    for index in range(8):
        tariff = make_tariff(f"extra-{index}")
        make_version(
            tariff,
            valid_from=dt.date(2026, 1, 1),
            rates=[("ALL", 1, None, Decimal("0.1"))],
            taxes=[("VAT", "VAT", Decimal(21), ["ENERGY"])],
        )
    with django_assert_max_num_queries(4):
        response = client.get(reverse("tariff_list"))
    assert len(response.context["tariffs"]) == 10
    assert len(few.captured_queries) == 4


def test_visitor_reads_a_flat_tariff_with_taxes_export_and_an_announced_change() -> None:
    _flat()
    response = Client().get(reverse("tariff_detail", args=["green-flat"]))
    assert response.status_code == 200
    text = _text(response.content.decode())
    assert "One price at every hour, from renewable sources." in text
    assert (
        "Available to Everyone Contract length 12 months Exit fee 30.00 € Renewable energy 100 %"
    ) in text
    assert "Prices now In force since Jan. 1, 2026; until the day before Sept. 1, 2026." in text
    assert "Standing charge 0.320000 € per day" in text
    assert "Price per kWh Consumption in the month Price Every kWh 0.150000 €/kWh" in text
    assert "We pay 0.050000 € for each kWh your solar panels send to the grid." in text
    assert "Electricity tax 5.11269632 % standing charge, energy" in text
    assert "VAT 21 % standing charge, energy, export credit, Electricity tax" in text
    assert "Price changes ahead From Sept. 1, 2026 (Autumn 2026)" in text
    assert "Standing charge 0.300000 € per day" in text
    assert "Every kWh 0.139000 €/kWh" in text
    assert "This tariff does not pay for exported electricity." in text  # the autumn version


def test_visitor_reads_when_each_time_of_use_period_applies() -> None:
    _tou()
    response = Client().get(reverse("tariff_detail", args=["night-tou"]))
    text = _text(response.content.decode())
    assert "Off-peak Every kWh 0.090000 €/kWh Peak Every kWh 0.240000 €/kWh" in text
    assert "Weekend prices also apply on public holidays." in text
    assert (
        "October–May Hours Monday to Friday Weekends and holidays "
        "00:00–08:00 Off-peak Off-peak 08:00–22:00 Peak Off-peak 22:00–24:00 Off-peak Off-peak"
    ) in text
    assert (
        "June–September Hours Monday to Friday Weekends and holidays "
        "00:00–10:00 Off-peak Off-peak 10:00–20:00 Peak Off-peak 20:00–24:00 Off-peak Off-peak"
    ) in text
    assert "No price changes have been announced." in text


def test_visitor_reads_tier_blocks_and_the_dynamic_formula() -> None:
    _tiered()
    _dynamic()
    text = _text(Client().get(reverse("tariff_detail", args=["block-tiered"])).content.decode())
    assert "First 150 kWh a month 0.100000 €/kWh Above 150 kWh a month 0.140000 €/kWh" in text
    assert "Blocks count all the kWh you use in a calendar month." in text
    text = _text(Client().get(reverse("tariff_detail", args=["market-dynamic"])).content.decode())
    assert "price per kWh = market price of the hour × 1.05 + 0.015000 €" in text
    assert "Floor: never less than 0.050000 €/kWh." in text
    assert "Cap: never more than 0.350000 €/kWh." in text
    assert "Market prices: day-ahead series ES-DA." in text


def test_hidden_and_unknown_tariffs_are_not_found() -> None:
    _hidden()
    client = Client()
    for code in ("staff-only", "no-such-tariff"):
        assert client.get(reverse("tariff_detail", args=[code])).status_code == 404
        assert client.get(reverse("tariff_print", args=[code])).status_code == 404


def test_a_withdrawn_public_tariff_still_shows_its_conditions() -> None:
    _expired()
    response = Client().get(reverse("tariff_detail", args=["old-fixed"]))
    assert response.status_code == 200
    assert "This tariff is no longer open to new customers." in _text(response.content.decode())


def test_visitor_prints_a_tariff_without_site_navigation() -> None:
    _tou()
    response = Client().get(reverse("tariff_print", args=["night-tou"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "site-header" not in html
    assert "<nav" not in html
    assert '<link rel="stylesheet" href="/static/css/tariffs.css">' in html
    text = _text(html)
    assert "Tariff information as of June 15, 2026" in text
    assert "08:00–22:00 Peak Off-peak" in text


def test_catalogue_pages_are_accessible_tables_and_need_no_script() -> None:
    _flat()
    _tou()
    for url in (
        reverse("tariff_list"),
        reverse("tariff_detail", args=["green-flat"]),
        reverse("tariff_detail", args=["night-tou"]),
        reverse("tariff_print", args=["night-tou"]),
    ):
        html = Client().get(url).content.decode()
        assert html.count("<table") == html.count("<caption>"), url
        assert " style=" not in html, url
        assert "<script>" not in html, url
        headings = [int(level) for level in re.findall(r"<h([1-6])", html)]
        assert headings[0] == 1, url
        assert all(b - a <= 1 for a, b in pairwise(headings)), url
