"""Meter head-ends push readings and events through the REST API with their own token."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import Address
from apps.metering.headends import headend_issue_token
from apps.metering.identifiers import make_cups
from apps.metering.models import HeadEndSystem, IntervalReading, MeterEvent, Premise, SupplyPoint

pytestmark = pytest.mark.django_db
CUPS = make_cups(31, 7)


@pytest.fixture
def supply_point() -> SupplyPoint:
    address = Address.objects.create(line1="Calle Sol 3", postcode="41001", city="Sevilla")
    return SupplyPoint.objects.create(
        external_id=CUPS, premise=Premise.objects.create(address=address)
    )


@pytest.fixture
def client() -> APIClient:
    _, token = headend_issue_token(name="head-end-south")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def _batch(*items: dict[str, object], strict: bool = False) -> dict[str, object]:
    return {"readings": list(items), "strict": strict}


READING = {
    "supply_point": CUPS,
    "interval_start": "2026-03-01T10:00:00Z",
    "duration_minutes": 15,
    "kwh_import": "0.125",
}


def test_head_end_pushes_a_batch_twice_and_it_is_stored_once(
    supply_point: SupplyPoint, client: APIClient
) -> None:
    second = dict(READING, interval_start="2026-03-01T10:15:00Z", kwh_import=0.25)
    first = client.post("/api/v1/metering/readings/", _batch(READING, second), format="json")
    assert first.status_code == 200, first.content
    assert (first.json()["inserted"], first.json()["invalid"]) == (2, 0)
    again = client.post("/api/v1/metering/readings/", _batch(READING, second), format="json")
    assert (again.json()["inserted"], again.json()["unchanged"]) == (0, 2)
    assert list(
        IntervalReading.objects.order_by("interval_start").values_list("kwh_import", "source")
    ) == [(Decimal("0.125"), "API"), (Decimal("0.250"), "API")]


def test_bad_items_are_named_and_strict_mode_rejects_the_batch(
    supply_point: SupplyPoint, client: APIClient
) -> None:
    bad = dict(READING, interval_start="2026-03-01T10:05:00Z")
    response = client.post(
        "/api/v1/metering/readings/", _batch(READING, bad, strict=True), format="json"
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "row": 2,
            "field": "interval_start",
            "reason": "misaligned: a 15-minute interval starts on the 15-minute boundary",
            "value": "2026-03-01T10:05:00Z",
        }
    ]
    assert IntervalReading.objects.count() == 0


def test_requests_without_a_valid_token_are_refused(supply_point: SupplyPoint) -> None:
    anonymous = APIClient()
    assert (
        anonymous.post("/api/v1/metering/readings/", _batch(READING), format="json").status_code
        == 401
    )
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer wlh_not-a-token")
    assert (
        wrong.post("/api/v1/metering/readings/", _batch(READING), format="json").status_code == 401
    )
    _, token = headend_issue_token(name="retired")
    HeadEndSystem.objects.filter(name="retired").update(is_active=False)
    retired = APIClient()
    retired.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (
        retired.post("/api/v1/metering/readings/", _batch(READING), format="json").status_code
        == 401
    )
    assert IntervalReading.objects.count() == 0


def test_a_signed_in_customer_cannot_push_readings(
    supply_point: SupplyPoint, customer: object
) -> None:
    api = APIClient()
    api.force_login(customer)
    response = api.post("/api/v1/metering/readings/", _batch(READING), format="json")
    assert response.status_code in (401, 403)
    assert IntervalReading.objects.count() == 0


def test_meter_events_are_idempotent_and_bad_ones_listed(
    supply_point: SupplyPoint, client: APIClient
) -> None:
    events = {
        "events": [
            {"supply_point": CUPS, "kind": "POWER_LOST", "occurred_at": "2026-03-01T10:03:00Z"},
            {"supply_point": CUPS, "kind": "POWER_RESTORED", "occurred_at": "2026-03-01T10:40:00Z"},
            {"supply_point": CUPS, "kind": "EXPLODED", "occurred_at": "2026-03-01T10:40:00Z"},
            {
                "supply_point": make_cups(31, 8),
                "kind": "TAMPER",
                "occurred_at": "2026-03-01T10:40:00Z",
            },
        ]
    }
    first = client.post("/api/v1/metering/events/", events, format="json").json()
    assert (first["stored"], first["duplicates"]) == (2, 0)
    assert [(e["row"], e["field"]) for e in first["errors"]] == [(3, "kind"), (4, "supply_point")]
    again = client.post("/api/v1/metering/events/", events, format="json").json()
    assert (again["stored"], again["duplicates"]) == (0, 2)
    assert MeterEvent.objects.count() == 2


def test_the_api_is_documented_in_the_openapi_schema() -> None:
    from django.test import Client

    schema = Client().get("/api/schema/?format=json").json()
    assert "/api/v1/metering/readings/" in schema["paths"]
    assert "/api/v1/metering/events/" in schema["paths"]
    assert schema["components"]["securitySchemes"]["HeadEndToken"]["scheme"] == "bearer"
