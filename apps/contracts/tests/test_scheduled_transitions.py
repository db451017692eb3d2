"""The hourly beat task moves due contracts, once."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from apps.contracts import services
from apps.contracts.models import Contract, ContractStatusChange
from apps.contracts.tasks import apply_scheduled_transitions
from apps.contracts.tests.factories import (
    madrid,
    make_account,
    make_contract,
    make_supply_point,
    make_tariff,
)
from config.celery import app as celery_app

pytestmark = pytest.mark.django_db
Status = Contract.Status
NOW = madrid(2026, 3, 10, 0, 5)  # the first beat run of 10 March


def _scenario() -> dict[str, Contract]:
    account = make_account(None)
    tariff = make_tariff("flat")

    def contract(**kwargs: object) -> Contract:
        return make_contract(
            account=account, supply_point=make_supply_point(), tariff=tariff, **kwargs
        )

    return {
        "pending_starts_today": contract(start_date=dt.date(2026, 3, 10), status=Status.PENDING),
        "pending_starts_tomorrow": contract(start_date=dt.date(2026, 3, 11), status=Status.PENDING),
        "cooling_off_over": contract(
            start_date=dt.date(2026, 3, 1),
            status=Status.COOLING_OFF,
            cooling_off_ends_at=madrid(2026, 3, 10),
        ),
        "cooling_off_running": contract(
            start_date=dt.date(2026, 3, 5),
            status=Status.COOLING_OFF,
            cooling_off_ends_at=madrid(2026, 3, 11),
        ),
        "active_ends_today": contract(
            start_date=dt.date(2025, 3, 10),
            end_date=dt.date(2026, 3, 10),
            status=Status.ACTIVE,
        ),
        "active_ends_tomorrow": contract(
            start_date=dt.date(2025, 3, 10),
            end_date=dt.date(2026, 3, 11),
            status=Status.ACTIVE,
        ),
        "cancelled": contract(start_date=dt.date(2026, 3, 1), status=Status.CANCELLED),
    }


def _statuses(contracts: dict[str, Contract]) -> dict[str, str]:
    return {name: Contract.objects.get(pk=c.pk).status for name, c in contracts.items()}


def test_scheduled_transitions_move_due_contracts_and_rerunning_changes_nothing() -> None:
    contracts = _scenario()
    first = services.contracts_apply_scheduled_transitions(now=NOW)
    assert sorted(first.activated) == sorted(
        [contracts["pending_starts_today"].number, contracts["cooling_off_over"].number]
    )
    assert first.ended == [contracts["active_ends_today"].number]
    assert _statuses(contracts) == {
        "pending_starts_today": "ACTIVE",
        "pending_starts_tomorrow": "PENDING",
        "cooling_off_over": "ACTIVE",
        "cooling_off_running": "COOLING_OFF",
        "active_ends_today": "ENDED",
        "active_ends_tomorrow": "ACTIVE",
        "cancelled": "CANCELLED",
    }
    changes = ContractStatusChange.objects.filter(actor_label="system:beat")
    assert changes.count() == 3
    assert set(changes.values_list("actor", flat=True)) == {None}
    assert set(changes.values_list("changed_at", flat=True)) == {NOW}
    ended = changes.get(contract=contracts["active_ends_today"])
    assert (ended.from_status, ended.to_status, ended.reason) == (
        "ACTIVE",
        "ENDED",
        "End date passed",
    )
    log = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Contract),
        object_pk=str(contracts["active_ends_today"].pk),
    ).order_by("-timestamp", "-id")[0]
    assert log.changes_dict["status"] == ["ACTIVE", "ENDED"]
    assert log.actor is None

    log_count = LogEntry.objects.count()
    second = services.contracts_apply_scheduled_transitions(now=NOW + dt.timedelta(hours=1))
    assert (second.activated, second.ended) == ([], [])
    assert ContractStatusChange.objects.filter(actor_label="system:beat").count() == 3
    assert LogEntry.objects.count() == log_count


def test_a_switch_takes_effect_on_its_date() -> None:
    account = make_account(None)
    point = make_supply_point()
    old = make_contract(
        account=account,
        supply_point=point,
        tariff=make_tariff("flat"),
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2026, 3, 10),
    )
    new = make_contract(
        account=account,
        supply_point=point,
        tariff=make_tariff("night"),
        start_date=dt.date(2026, 3, 10),
        status=Status.PENDING,
        previous=old,
    )
    before = services.contracts_apply_scheduled_transitions(now=madrid(2026, 3, 9, 23, 5))
    assert (before.activated, before.ended) == ([], [])
    result = services.contracts_apply_scheduled_transitions(now=NOW)
    assert (result.activated, result.ended) == ([new.number], [old.number])
    assert Contract.objects.get(pk=old.pk).status == Status.ENDED
    assert Contract.objects.get(pk=new.pk).status == Status.ACTIVE


def test_beat_task_is_registered_under_its_scheduled_name_and_is_idempotent() -> None:
    contracts = _scenario()
    assert "contracts.apply_scheduled_transitions" in celery_app.tasks
    with time_machine.travel(NOW, tick=False):
        first = apply_scheduled_transitions.apply().get()
        second = apply_scheduled_transitions.apply().get()
    assert sorted(first["activated"]) == sorted(
        [contracts["pending_starts_today"].number, contracts["cooling_off_over"].number]
    )
    assert first["ended"] == [contracts["active_ends_today"].number]
    assert second == {"activated": [], "ended": []}
