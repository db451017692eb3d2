"""Dispatchers maintain crews in the admin: skills, service area and working hours."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.service_requests.models import Crew, CrewShift, RequestType
from conftest import verified_client

pytestmark = pytest.mark.django_db
ADD = "/admin/service_requests/crew/add/"


@pytest.fixture
def dispatcher(make_user: Callable[..., User]) -> Client:
    return verified_client(make_user("dispatch@staff.example.com", role="field_dispatcher"))


def _crew_form(*shifts: tuple[int, str, str]) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Crew East",
        "skills": [RequestType.REPAIR, RequestType.METER_EXCHANGE],
        "postcode_prefixes": "288, 2880 ,28 9",
        "is_active": "on",
        "shifts-TOTAL_FORMS": str(len(shifts)),
        "shifts-INITIAL_FORMS": "0",
        "shifts-MIN_NUM_FORMS": "0",
        "shifts-MAX_NUM_FORMS": "1000",
    }
    for index, (weekday, start, end) in enumerate(shifts):
        data[f"shifts-{index}-weekday"] = str(weekday)
        data[f"shifts-{index}-start_time"] = start
        data[f"shifts-{index}-end_time"] = end
    return data


def test_dispatcher_adds_a_crew_with_skills_area_and_hours(dispatcher: Client) -> None:
    response = dispatcher.post(ADD, _crew_form((0, "08:00", "14:00"), (0, "15:00", "18:00")))
    assert response.status_code == 302, response.content.decode()
    crew = Crew.objects.get()
    assert crew.skills == [RequestType.REPAIR, RequestType.METER_EXCHANGE]
    assert crew.postcode_prefixes == ["288", "2880", "289"]
    assert list(
        CrewShift.objects.filter(crew=crew)
        .order_by("start_time")
        .values_list("weekday", "start_time", "end_time")
    ) == [(0, dt.time(8), dt.time(14)), (0, dt.time(15), dt.time(18))]


@pytest.mark.parametrize(
    ("shifts", "message"),
    [
        (
            ((0, "08:00", "14:00"), (0, "13:00", "18:00")),
            "Working hours on the same weekday overlap",
        ),
        (((2, "18:00", "08:00"),), "Working hours must end after they start."),
    ],
)
def test_bad_working_hours_are_refused(
    dispatcher: Client, shifts: tuple[tuple[int, str, str], ...], message: str
) -> None:
    response = dispatcher.post(ADD, _crew_form(*shifts))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Crew.objects.count() == 0


def test_support_agent_sees_crews_but_cannot_add_one(make_user: Callable[..., User]) -> None:
    agent = verified_client(make_user("agent@staff.example.com", role="support_agent"))
    assert agent.get("/admin/service_requests/crew/").status_code == 200
    assert agent.post(ADD, _crew_form((0, "08:00", "14:00"))).status_code == 403
    assert Crew.objects.count() == 0


def test_seeding_demo_crews_twice_creates_them_once() -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("seed_crews", stdout=out)
    call_command("seed_crews", stdout=out)
    assert out.getvalue().splitlines() == [
        "Field crew A: created",
        "Field crew B: created",
        "Field crew A: already there",
        "Field crew B: already there",
    ]
    assert Crew.objects.count() == 2
    assert CrewShift.objects.filter(crew__name="Field crew B").count() == 6
