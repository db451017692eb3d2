"""Billing specialists edit tariffs in the admin; validation says what is wrong and where."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from apps.tariffs.models import EnergyRate, PriceVersion, Tariff
from apps.tariffs.tests.helpers import (
    day_schedule,
    make_tariff,
    make_version,
    readings_csv,
    urdb_dir,
    year_of_hours,
)

pytestmark = pytest.mark.django_db

StaffClient = Callable[[str], Client]


@pytest.fixture
def specialist(staff_client_for: StaffClient) -> Client:
    return staff_client_for("billing_specialist")


@pytest.fixture
def tou_version() -> PriceVersion:
    tariff = make_tariff("tou-admin")
    return make_version(
        tariff,
        valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 7, 1),
        label="Winter 2026",
        energy_kind=PriceVersion.EnergyKind.TIME_OF_USE,
        standing_charge_per_day=Decimal("0.25"),
        weekday_schedule=day_schedule(range(8, 22)),
        weekend_schedule=day_schedule(range(0)),
        rates=[
            ("OFF", 1, None, Decimal("0.09"), "Off-peak"),
            ("PEAK", 1, None, Decimal("0.24"), "Peak"),
        ],
    )


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _post_data(version: PriceVersion, **overrides: Any) -> dict[str, str]:
    """What the change form posts for ``version``, with field or inline overrides.

    ``rates``: list of dicts (period, period_name, tier, upto_kwh, rate[, id, DELETE]).
    """
    fields = [
        "tariff", "label", "valid_from", "valid_to", "energy_kind", "standing_charge_per_day",
        "fixed_monthly_charge", "minimum_monthly_charge", "export_rate", "weekday_schedule",
        "weekend_schedule", "dynamic_factor", "dynamic_margin", "dynamic_floor", "dynamic_cap",
        "market_series",
    ]  # fmt: skip
    data = {
        name: _value(getattr(version, "tariff_id" if name == "tariff" else name)) for name in fields
    }
    rates = overrides.pop("rates", None)
    if rates is None:
        rates = [
            {
                "id": r.pk,
                "period": r.period,
                "period_name": r.period_name,
                "tier": r.tier,
                "upto_kwh": r.upto_kwh,
                "rate": r.rate,
            }
            for r in version.energy_rates.order_by("period", "tier", "id")
        ]
    data.update({name: _value(value) for name, value in overrides.items()})
    initial = sum(1 for r in rates if r.get("id"))
    data.update(
        {
            "energy_rates-TOTAL_FORMS": str(len(rates)),
            "energy_rates-INITIAL_FORMS": str(initial),
            "energy_rates-MIN_NUM_FORMS": "0",
            "energy_rates-MAX_NUM_FORMS": "1000",
            "taxes-TOTAL_FORMS": "0",
            "taxes-INITIAL_FORMS": "0",
            "taxes-MIN_NUM_FORMS": "0",
            "taxes-MAX_NUM_FORMS": "1000",
        }
    )
    for index, row in enumerate(rates):
        for name, value in row.items():
            data[f"energy_rates-{index}-{name}"] = _value(value)
        if version.pk:
            data[f"energy_rates-{index}-version"] = str(version.pk)
    return data


def _change_url(version: PriceVersion) -> str:
    return reverse("admin:tariffs_priceversion_change", args=[version.pk])


def _rates_snapshot(version: PriceVersion) -> list[tuple[str, int, Decimal | None, Decimal]]:
    return list(
        EnergyRate.objects.filter(version=version)
        .order_by("period", "tier", "id")
        .values_list("period", "tier", "upto_kwh", "rate")
    )


def test_specialist_edits_a_price_version_in_the_admin(
    specialist: Client, tou_version: PriceVersion
) -> None:
    data = _post_data(tou_version, standing_charge_per_day="0.27")
    response = specialist.post(_change_url(tou_version), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    tou_version.refresh_from_db()
    assert tou_version.standing_charge_per_day == Decimal("0.27")


def test_admin_explains_a_schedule_with_eleven_months(
    specialist: Client, tou_version: PriceVersion
) -> None:
    schedule = day_schedule(range(8, 22))[:11]
    response = specialist.post(
        _change_url(tou_version), _post_data(tou_version, weekday_schedule=schedule)
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["weekday_schedule"] == ["Must have 12 rows (January to December); found 11."]
    tou_version.refresh_from_db()
    assert len(tou_version.weekday_schedule) == 12


def test_admin_explains_an_hour_missing_from_a_month(
    specialist: Client, tou_version: PriceVersion
) -> None:
    schedule = day_schedule(range(8, 22))
    schedule[4] = schedule[4][:23]
    response = specialist.post(
        _change_url(tou_version), _post_data(tou_version, weekday_schedule=schedule)
    )
    assert response.context["adminform"].form.errors["weekday_schedule"] == [
        "Month 5 must list 24 hours (00:00 to 23:00); found 23."
    ]


def test_admin_explains_a_schedule_key_without_a_rate(
    specialist: Client, tou_version: PriceVersion
) -> None:
    schedule = day_schedule(range(8, 22))
    schedule[6][19] = "SUPERPEAK"
    before = tou_version.weekday_schedule
    response = specialist.post(
        _change_url(tou_version), _post_data(tou_version, weekday_schedule=schedule)
    )
    assert response.status_code == 200
    rates_formset = response.context["inline_admin_formsets"][0].formset
    assert list(rates_formset.non_form_errors()) == [
        "Energy rates and schedules: weekday_schedule month 7 hour 19 names period "
        "'SUPERPEAK', which is not in periods ['OFF', 'PEAK']."
    ]
    assert "names period &#x27;SUPERPEAK&#x27;" in response.content.decode()
    tou_version.refresh_from_db()
    assert tou_version.weekday_schedule == before


def test_admin_explains_tiers_out_of_order_and_a_limited_last_tier(specialist: Client) -> None:
    version = make_version(
        make_tariff("tiers-admin"),
        valid_from=dt.date(2026, 1, 1),
        energy_kind=PriceVersion.EnergyKind.TIERED,
        rates=[("ALL", 1, Decimal(150), Decimal("0.10")), ("ALL", 2, None, Decimal("0.14"))],
    )
    before = _rates_snapshot(version)
    ids = list(version.energy_rates.order_by("tier").values_list("id", flat=True))
    blank = {"period": "ALL", "period_name": ""}
    rates: list[dict[str, Any]] = [
        {**blank, "id": ids[0], "tier": 1, "upto_kwh": "300", "rate": "0.10"},
        {**blank, "id": ids[1], "tier": 2, "upto_kwh": "200", "rate": "0.14"},
    ]
    response = specialist.post(_change_url(version), _post_data(version, rates=rates))
    formset = response.context["inline_admin_formsets"][0].formset
    assert list(formset.non_form_errors()) == [
        "Energy rates and schedules: period 'ALL': the last tier must be unlimited (upto_kwh=None)."
    ]
    rates[1]["upto_kwh"] = ""
    rates.append({"period": "ALL", "period_name": "", "tier": 3, "upto_kwh": "", "rate": "0.2"})
    rates[1]["upto_kwh"] = "200"
    response = specialist.post(_change_url(version), _post_data(version, rates=rates))
    formset = response.context["inline_admin_formsets"][0].formset
    assert list(formset.non_form_errors()) == [
        "Energy rates and schedules: period 'ALL': tier bounds must increase (tier 2 upto 200 "
        "<= 300)."
    ]
    rates[2]["tier"] = 4
    response = specialist.post(_change_url(version), _post_data(version, rates=rates))
    formset = response.context["inline_admin_formsets"][0].formset
    assert list(formset.non_form_errors()) == [
        "Energy rates: period 'ALL' must number its tiers 1, 2, 3… without gaps or repeats; "
        "found 1, 2, 4."
    ]
    assert _rates_snapshot(version) == before


def test_admin_asks_for_the_dynamic_factor_and_margin(specialist: Client) -> None:
    version = make_version(
        make_tariff("dyn-admin"),
        valid_from=dt.date(2026, 1, 1),
        rates=[("ALL", 1, None, Decimal("0.15"))],
    )
    data = _post_data(
        version, energy_kind="DYNAMIC", dynamic_floor="0.20", dynamic_cap="0.10", rates=[]
    )
    response = specialist.post(_change_url(version), data)
    errors = response.context["adminform"].form.errors
    assert errors["dynamic_factor"] == [
        "A dynamic price needs the factor applied to the market price."
    ]
    assert errors["dynamic_margin"] == ["A dynamic price needs a margin per kWh (it may be 0)."]
    assert errors["dynamic_cap"] == ["The cap (0.10) is below the floor (0.20)."]
    version.refresh_from_db()
    assert version.energy_kind == PriceVersion.EnergyKind.FLAT


def test_admin_names_the_version_an_overlapping_one_collides_with(
    specialist: Client, tou_version: PriceVersion
) -> None:
    later = make_version(
        tou_version.tariff,
        valid_from=dt.date(2026, 7, 1),
        label="Summer 2026",
        rates=[("ALL", 1, None, Decimal("0.15"))],
    )
    # Stretch the winter version into the summer one.
    response = specialist.post(
        _change_url(tou_version), _post_data(tou_version, valid_to="2026-08-01")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["valid_to"] == [
        "These dates overlap price version tou-admin 2026-07-01–… (Summer 2026) of this "
        "tariff. End that version first, or choose dates outside [2026-07-01, …)."
    ]
    assert "__all__" not in errors  # the generic constraint message is not repeated
    tou_version.refresh_from_db()
    assert tou_version.valid_to == dt.date(2026, 7, 1)

    # A new version starting inside the winter one is refused on its valid_from.
    add = reverse("admin:tariffs_priceversion_add")
    data = _post_data(later, valid_from="2026-03-01", valid_to="2026-04-01", rates=[
        {"period": "ALL", "period_name": "", "tier": 1, "upto_kwh": "", "rate": "0.2"},
    ])  # fmt: skip
    response = specialist.post(add, data)
    assert response.context["adminform"].form.errors["valid_from"] == [
        "These dates overlap price version tou-admin 2026-01-01–2026-07-01 (Winter 2026) of "
        "this tariff. End that version first, or choose dates outside [2026-01-01, 2026-07-01)."
    ]
    assert PriceVersion.objects.filter(tariff=tou_version.tariff).count() == 2


def test_tariff_page_lists_versions_with_links_to_each(
    specialist: Client, tou_version: PriceVersion
) -> None:
    url = reverse("admin:tariffs_tariff_change", args=[tou_version.tariff_id])
    content = specialist.get(url).content.decode()
    assert reverse("admin:tariffs_priceversion_change", args=[tou_version.pk]) in content
    assert f"/admin/tariffs/priceversion/add/?tariff={tou_version.tariff_id}" in content


def test_admin_pages_render_for_the_specialist(
    specialist: Client, tou_version: PriceVersion
) -> None:
    for url in (
        reverse("admin:tariffs_tariff_changelist"),
        reverse("admin:tariffs_priceversion_changelist"),
        reverse("admin:tariffs_priceversion_add"),
        _change_url(tou_version),
        reverse("admin:tariffs_holiday_changelist"),
        reverse("admin:tariffs_marketprice_changelist"),
        reverse("admin:tariffs_tariff_import_urdb"),
        reverse("admin:tariffs_tariff_price_readings"),
    ):
        assert specialist.get(url).status_code == 200, url
    content = specialist.get(reverse("admin:tariffs_tariff_changelist")).content.decode()
    assert reverse("admin:tariffs_tariff_import_urdb") in content
    assert reverse("admin:tariffs_tariff_price_readings") in content


# ---------------------------------------------------------------------------------------------
# Staff tools: import from URDB and what-if pricing
# ---------------------------------------------------------------------------------------------


def _reference(name: str) -> Path:
    path = urdb_dir() / name
    if not path.exists():
        pytest.skip(f"URDB reference data not found at {path}")
    return path


def test_specialist_uploads_a_urdb_record(specialist: Client) -> None:
    path = _reference("fpl_gst1_tou_weekend.json")
    upload = SimpleUploadedFile("gst1.json", path.read_bytes(), content_type="application/json")
    response = specialist.post(
        reverse("admin:tariffs_tariff_import_urdb"),
        {
            "file": upload,
            "code": "fpl-gst1",
            "time_zone": "America/New_York",
            "valid_from": "2026-02-01",
        },
    )
    tariff = Tariff.objects.get(code="fpl-gst1")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:tariffs_tariff_change", args=[tariff.pk])
    assert tariff.time_zone == "America/New_York"
    assert tariff.is_public is False
    assert tariff.versions.get().valid_from == dt.date(2026, 2, 1)
    entry = LogEntry.objects.get_for_object(tariff).get()
    assert entry.actor is not None
    assert entry.actor.email == "billing_specialist@staff.example.com"


def test_upload_of_a_demand_rate_is_refused_naming_the_feature(specialist: Client) -> None:
    path = _reference("psco_rd_residential_demand.json")
    upload = SimpleUploadedFile("psco.json", path.read_bytes(), content_type="application/json")
    response = specialist.post(
        reverse("admin:tariffs_tariff_import_urdb"),
        {"file": upload, "code": "psco", "time_zone": "America/Denver", "valid_from": "2026-01-01"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [
        "This URDB rate cannot be imported: it uses flatdemandstructure (flat demand charges)."
    ]
    assert Tariff.objects.count() == 0


def test_specialist_prices_a_readings_file_in_the_admin(
    specialist: Client, tou_version: PriceVersion
) -> None:
    rows = [
        r
        for r in year_of_hours(2026, lambda local: Decimal(1))
        if r[0] < dt.datetime(2026, 2, 28, 23, tzinfo=dt.UTC)
    ]
    upload = SimpleUploadedFile(
        "readings.csv", readings_csv(rows).encode(), content_type="text/csv"
    )
    response = specialist.post(
        reverse("admin:tariffs_tariff_price_readings"),
        {"tariff": "tou-admin", "readings": upload},
    )
    assert response.status_code == 200
    months = response.context["months"]
    assert [item["month"].month for item in months] == ["2026-01", "2026-02"]
    # January: 31 days x 0.25 = 7.75; 22 weekdays x 14 h = 308 kWh peak x 0.24 = 73.92;
    # 744 - 308 = 436 kWh off-peak x 0.09 = 39.24 (no holidays stored) -> 120.91
    assert months[0]["month"].total == Decimal("120.91")
    assert "2026-01: total 120.91 EUR" in response.content.decode()


def test_readings_upload_errors_name_row_and_field(
    specialist: Client, tou_version: PriceVersion
) -> None:
    upload = SimpleUploadedFile(
        "bad.csv",
        b"start,minutes,kwh_import,kwh_export\n2026-01-01T00:00:00,60,1,0\n",
        content_type="text/csv",
    )
    response = specialist.post(
        reverse("admin:tariffs_tariff_price_readings"), {"tariff": "tou-admin", "readings": upload}
    )
    assert response.context["form"].errors["readings"] == [
        "row 2, start: no time zone offset (write e.g. 2026-01-01T00:00:00+01:00)"
    ]
    assert response.context["months"] is None


def test_support_agent_may_price_readings_but_not_import(staff_client_for: StaffClient) -> None:
    agent = staff_client_for("support_agent")
    assert agent.get(reverse("admin:tariffs_tariff_import_urdb")).status_code == 403
    assert agent.get(reverse("admin:tariffs_tariff_price_readings")).status_code == 200
    content = agent.get(reverse("admin:tariffs_tariff_changelist")).content.decode()
    assert reverse("admin:tariffs_tariff_import_urdb") not in content


def test_staff_without_tariff_permissions_cannot_use_the_tools(
    staff_client_for: StaffClient,
) -> None:
    dispatcher = staff_client_for("field_dispatcher")
    assert dispatcher.get(reverse("admin:tariffs_tariff_import_urdb")).status_code == 403
    assert dispatcher.get(reverse("admin:tariffs_tariff_price_readings")).status_code == 403


def test_market_prices_are_read_only(specialist: Client) -> None:
    from apps.tariffs.models import MarketPrice

    price = MarketPrice.objects.create(
        series="ES-DA", starts_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), price_per_kwh="0.1"
    )
    assert specialist.get(reverse("admin:tariffs_marketprice_add")).status_code == 403
    url = reverse("admin:tariffs_marketprice_change", args=[price.pk])
    response = specialist.post(
        url, {"series": "X", "starts_at_0": "2026-01-01", "price_per_kwh": "9"}
    )
    assert response.status_code == 403
    price.refresh_from_db()
    assert price.price_per_kwh == Decimal("0.1")
