"""Detection from stored meter events: outages created, grown, restored; replays change nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connections

from apps.accounts.models import User
from apps.core.models import Notification
from apps.outages import services
from apps.outages.models import Level, Outage, OutagePoint, OutageReport, OutageUpdate
from apps.outages.tasks import detect_outages
from apps.outages.tests.factories import build_network, event, lose, restore, supply

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

T0 = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
Status = Outage.Status
Source = OutagePoint.Source


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def snapshot() -> dict[str, Any]:
    return {
        "outages": list(
            Outage.objects.order_by("id").values_list(
                "id",
                "status",
                "level",
                "substation_id",
                "feeder_id",
                "transformer_id",
                "supply_point_id",
                "started_at",
                "ended_at",
                "confidence",
                "merged_into_id",
            )
        ),
        "points": list(
            OutagePoint.objects.order_by("id").values_list(
                "id", "outage_id", "supply_point_id", "lost_at", "restored_at", "source"
            )
        ),
        "updates": list(OutageUpdate.objects.order_by("id").values_list("id", "kind")),
        "reports": list(OutageReport.objects.order_by("id").values_list("id", "outage_id")),
        "notifications": list(
            Notification.objects.order_by("id").values_list("user_id", "dedupe_key")
        ),
    }


def detect(minutes: float, capture: Callable[..., Any]) -> services.DetectionRun:
    with capture(execute=True):
        return services.outages_detect(now=at(minutes))


def test_transformer_outage_is_detected_once_and_replaying_changes_nothing(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    net = build_network()
    a, b, c, d = net.under("S1F1T1")
    lose([a, b, c], T0)  # three of the transformer's four meters report

    run = detect(2, django_capture_on_commit_callbacks)

    outage = Outage.objects.get()
    assert run.created == [outage.pk]
    assert (outage.status, outage.level, outage.transformer_id) == (
        Status.ACTIVE,
        Level.TRANSFORMER,
        net.transformers[0].pk,
    )
    assert (outage.feeder_id, outage.substation_id) == (net.feeders[0].pk, net.substation.pk)
    assert outage.started_at == T0
    assert str(outage.confidence) == "0.750"
    points = {p.supply_point_id: p for p in outage.points.all()}
    assert {sp: (p.lost_at, p.restored_at, p.source) for sp, p in points.items()} == {
        a.pk: (T0, None, Source.METER),
        b.pk: (at(10 / 60), None, Source.METER),
        c.pk: (at(20 / 60), None, Source.METER),
        d.pk: (T0, None, Source.INFERRED),  # the fourth meter said nothing: inferred
    }
    assert list(outage.updates.values_list("kind", flat=True)) == [OutageUpdate.Kind.DETECTED]

    before = snapshot()
    again = detect(2, django_capture_on_commit_callbacks)
    later = detect(30, django_capture_on_commit_callbacks)
    assert (again.created, again.points_created, later.created, later.points_created) == (
        [],
        0,
        [],
        0,
    )
    assert snapshot() == before


def test_the_outage_grows_to_the_feeder_as_more_meters_report(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    net = build_network()
    lose(net.under("S1F1T1"), T0)
    detect(1, django_capture_on_commit_callbacks)
    outage = Outage.objects.get()
    assert outage.level == Level.TRANSFORMER

    lose(net.under("S1F1T2") + net.under("S1F1T3")[:2], at(2))  # now 10 of the feeder's 12
    run = detect(4, django_capture_on_commit_callbacks)

    outage.refresh_from_db()
    assert Outage.objects.count() == 1
    assert run.extended == [outage.pk]
    assert (outage.level, outage.feeder_id, outage.transformer_id) == (
        Level.FEEDER,
        net.feeders[0].pk,
        None,
    )
    assert str(outage.confidence) == "0.833"
    sources = sorted(outage.points.values_list("source", flat=True))
    assert sources == [Source.INFERRED] * 2 + [Source.METER] * 10
    assert list(outage.updates.order_by("id").values_list("kind", flat=True)) == [
        OutageUpdate.Kind.DETECTED,
        OutageUpdate.Kind.EXTENDED,
    ]
    before = snapshot()
    detect(4, django_capture_on_commit_callbacks)
    assert snapshot() == before


def test_partial_restoration_is_recorded_and_the_outage_ends_when_all_are_back(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    net = build_network()
    a, b, c, d = net.under("S1F1T1")
    lose([a, b, c], T0, step_s=0)
    detect(1, django_capture_on_commit_callbacks)
    outage = Outage.objects.get()

    restore([a], at(30))
    detect(31, django_capture_on_commit_callbacks)
    outage.refresh_from_db()
    assert outage.status == Status.ACTIVE
    assert dict(outage.points.values_list("supply_point_id", "restored_at")) == {
        a.pk: at(30),
        b.pk: None,
        c.pk: None,
        d.pk: None,
    }

    restore([b], at(45))
    restore([c], at(50))
    run = detect(51, django_capture_on_commit_callbacks)

    outage.refresh_from_db()
    assert run.restored == [outage.pk]
    assert (outage.status, outage.ended_at) == (Status.RESTORED, at(50))
    # The silent fourth point is closed with the last meter: 30 + 45 + 50 + 50 minutes.
    minutes = sum((p.restored_at - p.lost_at).total_seconds() / 60 for p in outage.points.all())
    assert minutes == 175
    before = snapshot()
    detect(51, django_capture_on_commit_callbacks)
    detect(90, django_capture_on_commit_callbacks)
    assert snapshot() == before


def test_a_meter_that_only_reports_its_restoration_is_closed_at_that_time(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    net = build_network()
    a, b, c, d = net.under("S1F1T1")
    lose([a, b, c], T0, step_s=0)
    detect(1, django_capture_on_commit_callbacks)
    restore([d], at(20))  # the silent meter says it is back
    detect(21, django_capture_on_commit_callbacks)

    point = OutagePoint.objects.get(supply_point=d)
    assert (point.source, point.lost_at, point.restored_at) == (Source.INFERRED, T0, at(20))
    assert Outage.objects.get().status == Status.ACTIVE


def test_two_unrelated_outages_at_once_are_two_records(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    net = build_network()
    lose(net.under("S1F1T1"), T0)
    lose(net.under("S1F2T1"), T0)

    run = detect(2, django_capture_on_commit_callbacks)

    assert len(run.created) == 2
    assert sorted(Outage.objects.values_list("transformer__code", flat=True)) == [
        "S1F1T1",
        "S1F2T1",
    ]


def test_a_single_premise_fault_becomes_a_premise_outage_after_the_window(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    net = build_network()
    point = net.under("S1F1T1")[0]
    lose([point], T0)

    assert detect(3, django_capture_on_commit_callbacks).pending == [point.pk]
    assert Outage.objects.count() == 0

    detect(6, django_capture_on_commit_callbacks)
    outage = Outage.objects.get()
    assert (outage.level, outage.supply_point_id, outage.transformer_id) == (
        Level.SUPPLY_POINT,
        point.pk,
        net.transformers[0].pk,
    )
    assert list(outage.points.values_list("supply_point_id", "source")) == [
        (point.pk, Source.METER)
    ]


def test_a_premise_fault_joins_the_transformer_outage_when_late_meters_report(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    net = build_network()
    a, b, c, _d = net.under("S1F1T1")
    lose([a], T0)
    detect(6, django_capture_on_commit_callbacks)
    first = Outage.objects.get()
    assert first.level == Level.SUPPLY_POINT

    lose([b, c], at(1))  # late-arriving events of the same minute
    detect(7, django_capture_on_commit_callbacks)

    first.refresh_from_db()
    assert Outage.objects.count() == 1
    assert (first.level, first.transformer_id) == (Level.TRANSFORMER, net.transformers[0].pk)
    assert first.points.count() == 4


def test_a_flapping_meter_opens_no_outage(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    net = build_network()
    point = net.under("S1F1T1")[0]
    for k in range(5):
        event(point, "POWER_LOST", at(4 * k))
        event(point, "POWER_RESTORED", at(4 * k + 1))

    run = detect(30, django_capture_on_commit_callbacks)

    assert run.flapping == [point.pk]
    assert Outage.objects.count() == 0


def test_a_customer_report_is_confirmed_and_merged_by_the_meters(
    customer: User, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    net = build_network()
    a = net.under("S1F1T1")[0]
    account = supply(customer, a)
    result = services.outage_report_create(
        user=customer, account=account, supply_point_id=a.pk, description="dark", now=at(1)
    )
    suspected = result.outage
    assert (suspected.status, suspected.level, suspected.supply_point_id) == (
        Status.SUSPECTED,
        Level.SUPPLY_POINT,
        a.pk,
    )

    lose(net.under("S1F1T1"), T0)
    detect(3, django_capture_on_commit_callbacks)

    suspected.refresh_from_db()
    assert suspected.status == Status.ACTIVE  # the oldest record carries on, now confirmed
    assert (suspected.level, suspected.transformer_id) == (
        Level.TRANSFORMER,
        net.transformers[0].pk,
    )
    assert Outage.objects.count() == 1
    assert OutageReport.objects.get().outage_id == suspected.pk
    assert suspected.started_at == T0


def test_a_suspected_outage_is_merged_into_an_outage_already_detected(
    customer: User, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    net = build_network()
    points = net.feeder_points(0)
    account = supply(customer, points[-1])  # on the feeder's third transformer
    lose(net.under("S1F1T1"), T0)
    detect(1, django_capture_on_commit_callbacks)
    detected = Outage.objects.get()
    report = services.outage_report_create(
        user=customer, account=account, supply_point_id=points[-1].pk, description="", now=at(2)
    )
    suspected = report.outage
    assert suspected.pk != detected.pk  # not covered by the transformer outage yet

    lose(points[4:11], at(2))  # the feeder goes: 11 of 12
    detect(4, django_capture_on_commit_callbacks)

    suspected.refresh_from_db()
    detected.refresh_from_db()
    assert (suspected.status, suspected.merged_into_id) == (Status.MERGED, detected.pk)
    assert detected.level == Level.FEEDER
    assert OutageReport.objects.get().outage_id == detected.pk


def test_notifications_are_sent_once_when_detected_and_when_restored(
    customer: User, other_customer: User, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    net = build_network()
    a, b, c, d = net.under("S1F1T1")
    supply(customer, a)
    supply(other_customer, d, name="Bruno")  # silent meter: inferred, still told
    elsewhere = supply(None, net.under("S1F2T1")[0])
    assert elsewhere
    lose([a, b, c], T0)

    detect(1, django_capture_on_commit_callbacks)
    detect(2, django_capture_on_commit_callbacks)

    keys = sorted(Notification.objects.values_list("user__email", "kind"))
    assert keys == [
        ("ana@example.com", "outage.detected"),
        ("bruno@example.com", "outage.detected"),
    ]
    assert sorted(m.to[0] for m in mail.outbox) == ["ana@example.com", "bruno@example.com"]

    restore([a, b, c], at(40))
    detect(41, django_capture_on_commit_callbacks)
    detect(42, django_capture_on_commit_callbacks)

    assert sorted(Notification.objects.values_list("user__email", "kind")) == [
        ("ana@example.com", "outage.detected"),
        ("ana@example.com", "outage.restored"),
        ("bruno@example.com", "outage.detected"),
        ("bruno@example.com", "outage.restored"),
    ]
    assert len(mail.outbox) == 4
    assert "Power is back" in Notification.objects.get(user=customer, kind="outage.restored").title


def test_a_momentary_blink_is_recorded_but_announced_to_no_one(
    customer: User, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    net = build_network()
    points = net.under("S1F1T1")
    supply(customer, points[0])
    lose(points, T0, step_s=1)
    restore(points, at(1))

    detect(3, django_capture_on_commit_callbacks)

    outage = Outage.objects.get()
    assert (outage.status, outage.ended_at) == (Status.RESTORED, at(1))
    assert Notification.objects.count() == 0


def test_staff_estimate_notifies_the_customers_without_supply_once(
    customer: User, make_user: Callable[..., User], django_capture_on_commit_callbacks: Any
) -> None:
    staff = make_user("ops@staff.example.com", role="operations")
    net = build_network()
    points = net.under("S1F1T1")
    supply(customer, points[0])
    lose(points, T0)
    detect(1, django_capture_on_commit_callbacks)
    outage = Outage.objects.get()
    estimate = at(120)

    with django_capture_on_commit_callbacks(execute=True):
        update = services.outage_post_update(
            outage_id=outage.pk,
            actor=staff,
            now=at(5),
            note="Crew on the way.",
            cause=Outage.Cause.EQUIPMENT_FAILURE,
            crew="Crew 7",
            estimated_restoration_at=estimate,
        )
    services.outage_notify_estimate(outage_id=outage.pk, update_id=update.pk)  # a retry

    outage.refresh_from_db()
    assert (outage.cause, outage.crew, outage.estimated_restoration_at) == (
        Outage.Cause.EQUIPMENT_FAILURE,
        "Crew 7",
        estimate,
    )
    assert list(
        Notification.objects.filter(kind="outage.estimate").values_list("user__email", "dedupe_key")
    ) == [("ana@example.com", f"outage:{outage.pk}:estimate:{update.pk}")]
    assert (update.actor_id, update.actor_label) == (staff.pk, "staff:ops@staff.example.com")


def test_staff_updates_are_refused_with_a_reason_and_change_nothing(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Any
) -> None:
    staff = make_user("ops@staff.example.com", role="operations")
    net = build_network()
    lose(net.under("S1F1T1"), T0)
    detect(1, django_capture_on_commit_callbacks)
    outage = Outage.objects.get()
    before = snapshot()

    with pytest.raises(services.InvalidEstimate, match="future") as past:
        services.outage_post_update(
            outage_id=outage.pk, actor=staff, now=at(5), estimated_restoration_at=at(4)
        )
    assert past.value.field == "estimated_restoration_at"
    with pytest.raises(services.EmptyUpdate):
        services.outage_post_update(outage_id=outage.pk, actor=staff, now=at(5))
    with pytest.raises(services.IllegalTransition):
        services.outage_transition(
            outage_id=outage.pk, to_status=Status.CANCELLED, actor=staff, now=at(5)
        )
    with pytest.raises(services.InvalidRestorationTime):
        services.outage_transition(
            outage_id=outage.pk, to_status=Status.RESTORED, actor=staff, now=at(5), at=at(-10)
        )
    assert snapshot() == before


def test_staff_declare_an_outage_restored(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Any
) -> None:
    staff = make_user("ops@staff.example.com", role="operations")
    net = build_network()
    a, b, c, d = net.under("S1F1T1")
    lose([a, b, c], T0, step_s=0)
    detect(1, django_capture_on_commit_callbacks)
    restore([a], at(10))
    detect(11, django_capture_on_commit_callbacks)
    outage = Outage.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        services.outage_transition(
            outage_id=outage.pk, to_status=Status.RESTORED, actor=staff, now=at(30), at=at(25)
        )

    outage.refresh_from_db()
    assert (outage.status, outage.ended_at) == (Status.RESTORED, at(25))
    assert dict(outage.points.values_list("supply_point_id", "restored_at")) == {
        a.pk: at(10),
        b.pk: at(25),
        c.pk: at(25),
        d.pk: at(25),
    }
    # Meters that report afterwards change nothing.
    restore([b, c], at(40))
    before = snapshot()
    detect(41, django_capture_on_commit_callbacks)
    assert snapshot() == before


def test_planned_work_is_announced_once_started_and_closed_at_its_end(
    customer: User,
    make_user: Callable[..., User],
    django_capture_on_commit_callbacks: Any,
) -> None:
    staff = make_user("dispatch@staff.example.com", role="field_dispatcher")
    net = build_network()
    points = net.under("S1F2T1")
    supply(customer, points[0])
    supply(None, net.under("S1F1T1")[0])  # another transformer: not told

    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        planned = services.planned_outage_create(
            level=Level.TRANSFORMER,
            node_id=net.transformers[3].pk,
            starts_at=at(24 * 60),
            ends_at=at(24 * 60 + 120),
            description="Replacing the transformer.",
            actor=staff,
            now=T0,
        )
    assert services.planned_outages_announce(now=at(60)) == 0  # already told, once
    assert list(Notification.objects.values_list("user__email", "kind")) == [
        ("ana@example.com", "outage.planned")
    ]
    planned.refresh_from_db()
    assert (planned.status, planned.announced_at) == (Status.SCHEDULED, T0)

    run = detect(24 * 60 + 1, django_capture_on_commit_callbacks)
    planned.refresh_from_db()
    assert run.started == [planned.pk]
    assert planned.status == Status.ACTIVE
    assert sorted(planned.points.values_list("source", flat=True)) == [Source.PLANNED] * 4

    detect(24 * 60 + 121, django_capture_on_commit_callbacks)
    planned.refresh_from_db()
    assert (planned.status, planned.ended_at) == (Status.RESTORED, at(24 * 60 + 120))


def test_planned_work_with_a_bad_window_is_refused(make_user: Callable[..., User]) -> None:
    staff = make_user("ops@staff.example.com", role="operations")
    net = build_network(feeders=1, transformers=1, points=1)
    cases = [
        ({"starts_at": at(-1), "ends_at": at(60)}, "starts_at"),
        ({"starts_at": at(60), "ends_at": at(60)}, "ends_at"),
        ({"starts_at": at(60), "ends_at": at(60 + 73 * 60)}, "ends_at"),
    ]
    for window, field in cases:
        with pytest.raises(services.InvalidPlannedOutage) as refused:
            services.planned_outage_create(
                level=Level.TRANSFORMER,
                node_id=net.transformers[0].pk,
                description="Work",
                actor=staff,
                now=T0,
                **window,
            )
        assert refused.value.field == field
    with pytest.raises(services.InvalidPlannedOutage) as unknown:
        services.planned_outage_create(
            level=Level.FEEDER,
            node_id=999_999,
            starts_at=at(60),
            ends_at=at(120),
            description="Work",
            actor=staff,
            now=T0,
        )
    assert unknown.value.field == "node"
    assert Outage.objects.count() == 0


def test_the_beat_task_runs_detection(django_capture_on_commit_callbacks: Any) -> None:
    net = build_network()
    lose(net.under("S1F1T1"), dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3))

    with django_capture_on_commit_callbacks(execute=True):
        summary = detect_outages.delay().get()

    assert summary["skipped"] is False
    assert len(summary["created"]) == 1
    assert Outage.objects.count() == 1


def test_a_second_run_while_one_is_running_is_skipped() -> None:
    other = connections.create_connection("default")
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [services.DETECTION_LOCK])
        run = services.outages_detect(now=T0)
        assert run.skipped is True
    finally:
        other.rollback()
        other.close()


def test_thresholds_come_from_settings(
    settings: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    settings.WATTLINE_OUTAGE_DETECTION = {"MIN_SHARE": "0.8", "MIN_POINTS": 4, "WINDOW_MINUTES": 3}
    assert services.detection_thresholds().window == dt.timedelta(minutes=3)
    net = build_network()
    lose(net.under("S1F1T1")[:3], T0)  # 3 of 4: under 80 % and fewer than 4 points

    detect(10, django_capture_on_commit_callbacks)

    assert sorted(Outage.objects.values_list("level", flat=True)) == [Level.SUPPLY_POINT] * 3
