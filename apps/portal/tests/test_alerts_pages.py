"""Unusual-use alerts reach the right people once; the notification centre and the alert
settings show and change only the signed-in customer's own things."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
import time_machine
from auditlog.models import LogEntry
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import CommunicationPreference, Membership, User
from apps.contracts.models import Contract
from apps.contracts.tests.factories import (
    make_account,
    make_contract,
    make_supply_point,
    make_tariff,
)
from apps.core.models import Notification
from apps.core.notifications import notification_send
from apps.metering.models import AlertPreference, ConsumptionAlert, SupplyPoint
from apps.metering.partitions import ensure_reading_partitions
from apps.metering.tests.test_alerts import AS_OF, FIRST, TODAY, day, on_days, store_household
from apps.portal import alerting
from apps.portal.tasks import scan_alerts
from config.celery import app as celery_app

pytestmark = pytest.mark.django_db

D = Decimal
HTMX = {"HTTP_HX_REQUEST": "true"}
NOTIFICATIONS = "/my/notifications/"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@dataclass
class Homes:
    ana: User
    carla: User  # a second member of Ana's account
    bruno: User
    dora: User  # lived at Ana's supply point until June
    ana_point: SupplyPoint
    bruno_point: SupplyPoint


@pytest.fixture
def homes(customer: User, other_customer: User, make_user: Callable[..., User]) -> Homes:
    ensure_reading_partitions(first=FIRST - dt.timedelta(days=31), last=TODAY)
    carla, dora = make_user("carla@example.com"), make_user("dora@example.com")
    tariff = make_tariff("flat")
    ana_account = make_account(customer)
    Membership.objects.create(user=carla, account=ana_account, role=Membership.Role.MEMBER)
    ana_point, bruno_point = make_supply_point(), make_supply_point()
    make_contract(
        account=make_account(dora, name="Dora"),
        supply_point=ana_point,
        tariff=tariff,
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2026, 6, 1),
        status=Contract.Status.ENDED,
    )
    make_contract(
        account=ana_account, supply_point=ana_point, tariff=tariff, start_date=dt.date(2026, 6, 1)
    )
    make_contract(
        account=make_account(other_customer, name="Bruno"),
        supply_point=bruno_point,
        tariff=tariff,
        start_date=dt.date(2025, 1, 1),
    )
    return Homes(customer, carla, other_customer, dora, ana_point, bruno_point)  # type: ignore[arg-type]


@pytest.fixture
def spike(homes: Homes) -> Homes:
    """Ana's home used three times its usual on 28 August; Bruno's home was ordinary."""
    store_household(homes.ana_point, seed=2, rule=on_days([day(4)], lambda kwh: kwh * 3))
    store_household(homes.bruno_point, seed=1)
    return homes


# -- scan and notify -------------------------------------------------------------------------


def test_new_alert_notifies_each_member_of_the_holding_account_once_in_app_and_by_email(
    spike: Homes, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    ids = [spike.ana_point.pk, spike.bruno_point.pk]
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        outcome = alerting.alerts_scan_and_notify(supply_point_ids=ids, as_of=AS_OF)

    alert = ConsumptionAlert.objects.get()
    assert (alert.supply_point, alert.kind, alert.day) == (spike.ana_point, "HIGH_DAILY", day(4))
    assert (outcome.scanned, outcome.alerts, outcome.notifications) == (2, [alert.pk], 2)
    sent = Notification.objects.order_by("user__email")
    assert [(n.user.email, n.kind, n.url) for n in sent] == [
        ("ana@example.com", "CONSUMPTION_ALERT", f"/my/usage/{spike.ana_point.pk}/"),
        ("carla@example.com", "CONSUMPTION_ALERT", f"/my/usage/{spike.ana_point.pk}/"),
    ]
    assert sent[0].title == "Unusually high electricity use on Aug. 28, 2026"
    assert f"Supply point {spike.ana_point.external_id} used {alert.observed} kWh" in sent[0].body
    assert sorted(m.to[0] for m in mail.outbox) == ["ana@example.com", "carla@example.com"]
    assert mail.outbox[0].subject.endswith("Unusually high electricity use on Aug. 28, 2026")
    assert f"http://127.0.0.1:8000/my/usage/{spike.ana_point.pk}/" in mail.outbox[0].body

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        again = alerting.alerts_scan_and_notify(supply_point_ids=ids, as_of=AS_OF)
    assert (again.alerts, again.notifications) == ([], 0)
    assert ConsumptionAlert.objects.count() == 1
    assert Notification.objects.count() == 2
    assert len(mail.outbox) == 2


def test_customer_who_turned_email_off_is_told_in_the_portal_only(
    spike: Homes, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    customer = Membership.objects.get(user=spike.ana).account.customer
    CommunicationPreference.objects.create(customer=customer, email_notifications=False)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        alerting.alerts_scan_and_notify(supply_point_ids=[spike.ana_point.pk], as_of=AS_OF)
    assert Notification.objects.filter(user=spike.ana).count() == 1
    assert mail.outbox == []


def test_switched_off_alerts_are_neither_stored_nor_sent(spike: Homes) -> None:
    AlertPreference.objects.create(supply_point=spike.ana_point, disabled_kinds=["HIGH_DAILY"])
    outcome = alerting.alerts_scan_and_notify(supply_point_ids=[spike.ana_point.pk], as_of=AS_OF)
    assert (outcome.alerts, ConsumptionAlert.objects.count(), Notification.objects.count()) == (
        [],
        0,
        0,
    )


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Chunk tasks run in this process (the dispatcher's ``delay`` would go to Redis)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = previous


def test_beat_task_scans_in_chunks_and_a_second_run_sends_nothing(
    spike: Homes, eager_celery: None
) -> None:
    with time_machine.travel(AS_OF, tick=False):
        assert scan_alerts.apply(kwargs={"chunk_size": 1}).get() == 2  # two chunks queued
        assert scan_alerts.apply(kwargs={"chunk_size": 1}).get() == 2
    assert ConsumptionAlert.objects.count() == 1
    assert sorted(Notification.objects.values_list("user__email", flat=True)) == [
        "ana@example.com",
        "carla@example.com",
    ]


def test_no_new_readings_means_nothing_to_scan(spike: Homes, eager_celery: None) -> None:
    with time_machine.travel(AS_OF + dt.timedelta(days=3), tick=False):
        assert scan_alerts.apply().get() == 0
    assert ConsumptionAlert.objects.count() == 0


# -- notification centre ---------------------------------------------------------------------


def _notify(user: User, key: str, title: str) -> Notification:
    return notification_send(
        user=user, kind="TEST", title=title, body="Body.", url="/my/", dedupe_key=key, email=False
    ).notification


@pytest.fixture
def inbox(customer: User, other_customer: User) -> dict[str, Notification]:
    with time_machine.travel(dt.datetime(2026, 9, 1, 8, tzinfo=dt.UTC), tick=False) as traveller:
        items = {}
        for key in ("first", "second", "third"):
            items[key] = _notify(customer, key, f"Ana {key}")
            traveller.shift(dt.timedelta(minutes=5))
        items["bruno"] = _notify(other_customer, "bruno", "Bruno only")
    Notification.objects.filter(pk=items["third"].pk).update(read_at=items["third"].created_at)
    return items


def test_customer_sees_own_notifications_unread_first(
    customer: User, inbox: dict[str, Notification]
) -> None:
    response = _client(customer).get(NOTIFICATIONS)
    assert response.status_code == 200
    assert [n.title for n in response.context["notifications"]] == [
        "Ana second",
        "Ana first",
        "Ana third",
    ]
    body = response.content.decode()
    assert "2 unread notifications" in body
    assert "Bruno only" not in body
    assert body.count(">New<") == 2
    assert body.count(">Read<") == 1


def test_notification_list_needs_the_same_queries_for_many_notifications(customer: User) -> None:
    client = _client(customer)
    for n in range(3):
        _notify(customer, f"k{n}", f"n{n}")
    with CaptureQueriesContext(connection) as few:
        assert client.get(NOTIFICATIONS).status_code == 200
    for n in range(3, 30):
        _notify(customer, f"k{n}", f"n{n}")
    with CaptureQueriesContext(connection) as many:
        assert client.get(NOTIFICATIONS).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)


def test_customer_marks_one_notification_read(
    customer: User, inbox: dict[str, Notification]
) -> None:
    client = _client(customer)
    response = client.post(f"{NOTIFICATIONS}{inbox['first'].pk}/read/")
    assert (response.status_code, response["Location"]) == (302, NOTIFICATIONS)
    unread = Notification.objects.filter(read_at__isnull=True).order_by("id")
    assert [n.title for n in unread] == ["Ana second", "Bruno only"]
    fragment = client.post(f"{NOTIFICATIONS}{inbox['second'].pk}/read/", **HTMX)
    assert fragment.status_code == 200
    assert fragment["HX-Trigger"] == "notificationsChanged"
    assert ">Read<" in fragment.content.decode()
    assert "<html" not in fragment.content.decode()
    count = client.get(f"{NOTIFICATIONS}unread-count/").content.decode()
    assert "0 unread notifications" in count


def test_customer_cannot_mark_another_customers_notification_read(
    customer: User, inbox: dict[str, Notification]
) -> None:
    response = _client(customer).post(f"{NOTIFICATIONS}{inbox['bruno'].pk}/read/")
    assert response.status_code == 404
    assert Notification.objects.get(pk=inbox["bruno"].pk).read_at is None
    assert Notification.objects.filter(read_at__isnull=True).count() == 3


def test_mark_all_read_touches_only_the_customers_own(
    customer: User, inbox: dict[str, Notification]
) -> None:
    response = _client(customer).post(f"{NOTIFICATIONS}read-all/")
    assert response.status_code == 302
    unread = Notification.objects.filter(read_at__isnull=True)
    assert [n.title for n in unread] == ["Bruno only"]
    assert Notification.objects.get(pk=inbox["third"].pk).read_at == inbox["third"].created_at


def test_unread_count_fragment_counts_only_own_notifications(
    other_customer: User, inbox: dict[str, Notification]
) -> None:
    response = _client(other_customer).get(f"{NOTIFICATIONS}unread-count/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "1 unread notification<" in text
    assert 'hx-trigger="every 60s' in text


def test_marking_read_is_refused_by_get_and_for_visitors(inbox: dict[str, Notification]) -> None:
    anonymous = Client()
    assert anonymous.get(NOTIFICATIONS).status_code == 302
    assert anonymous.post(f"{NOTIFICATIONS}{inbox['first'].pk}/read/").status_code == 302
    ana = _client(inbox["first"].user)
    assert ana.get(f"{NOTIFICATIONS}{inbox['first'].pk}/read/").status_code == 405
    assert ana.get(f"{NOTIFICATIONS}read-all/").status_code == 405
    assert Notification.objects.filter(read_at__isnull=True).count() == 3


# -- alert settings --------------------------------------------------------------------------


def _settings(point: SupplyPoint) -> str:
    return f"{NOTIFICATIONS}settings/{point.pk}/"


def test_customer_changes_alert_settings_for_their_supply_point(homes: Homes) -> None:
    client = _client(homes.carla)  # any member of the account may
    page = client.get(_settings(homes.ana_point))
    assert page.status_code == 200
    assert page.context["form"].initial == {
        "sensitivity": "NORMAL",
        "kinds": ["HIGH_DAILY", "HIGH_BASELOAD", "STEP_CHANGE", "ZERO_USE"],
    }
    body = page.content.decode()
    assert "<legend>How sensitive should alerts be?</legend>" in body
    assert 'value="ZERO_USE"' in body
    assert "No unusual use so far." in body

    response = client.post(
        _settings(homes.ana_point), {"sensitivity": "HIGH", "kinds": ["HIGH_DAILY", "STEP_CHANGE"]}
    )
    assert (response.status_code, response["Location"]) == (302, _settings(homes.ana_point))
    preference = AlertPreference.objects.get(supply_point=homes.ana_point)
    assert (preference.sensitivity, preference.disabled_kinds) == (
        "HIGH",
        ["HIGH_BASELOAD", "ZERO_USE"],
    )
    assert LogEntry.objects.get_for_object(preference).get().actor == homes.carla
    again = client.get(_settings(homes.ana_point))
    assert again.context["form"].initial["kinds"] == ["HIGH_DAILY", "STEP_CHANGE"]
    assert "Your alert settings are saved." in again.content.decode()


def test_alert_settings_list_recent_alerts_of_that_supply_point(homes: Homes) -> None:
    for point, kind in ((homes.ana_point, "ZERO_USE"), (homes.bruno_point, "HIGH_DAILY")):
        ConsumptionAlert.objects.create(
            supply_point=point,
            kind=kind,
            day=day(5),
            detected_at=AS_OF,
            observed=D(0),
            expected=D("9.5"),
        )
    response = _client(homes.ana).get(_settings(homes.ana_point))
    assert [(a.supply_point, a.kind) for a in response.context["recent"]] == [
        (homes.ana_point, "ZERO_USE")
    ]
    assert "<td>No consumption for several days</td>" in response.content.decode()


@pytest.mark.parametrize("method", ["get", "post"])
def test_customer_cannot_see_or_change_another_customers_alert_settings(
    homes: Homes, method: str
) -> None:
    client = _client(homes.ana)
    data = {"sensitivity": "LOW", "kinds": []}
    response = getattr(client, method)(_settings(homes.bruno_point), data)
    assert response.status_code == 404
    former = getattr(_client(homes.dora), method)(_settings(homes.ana_point), data)
    assert former.status_code == 404  # Dora's contract there has ended
    missing = getattr(client, method)(f"{NOTIFICATIONS}settings/999999/", data)
    assert missing.status_code == 404
    assert AlertPreference.objects.count() == 0


def test_unknown_sensitivity_is_refused_with_an_error_and_nothing_changes(homes: Homes) -> None:
    response = _client(homes.ana).post(
        _settings(homes.ana_point), {"sensitivity": "LOUD", "kinds": ["ZERO_USE"]}
    )
    assert response.status_code == 400
    assert response.context["form"].errors == {
        "sensitivity": ["Select a valid choice. LOUD is not one of the available choices."]
    }
    assert AlertPreference.objects.count() == 0


def test_notification_centre_links_to_the_settings_of_supply_points_held_now(homes: Homes) -> None:
    ana = _client(homes.ana).get(NOTIFICATIONS).content.decode()
    assert f'href="{_settings(homes.ana_point)}"' in ana
    assert _settings(homes.bruno_point) not in ana
    dora = _client(homes.dora).get(NOTIFICATIONS).content.decode()
    assert _settings(homes.ana_point) not in dora
