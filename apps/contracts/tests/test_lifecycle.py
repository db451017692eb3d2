"""The transition table, the one transition service, and the no-overlap rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction

from apps.accounts.models import User
from apps.contracts import services
from apps.contracts.models import Contract, ContractStatusChange
from apps.contracts.tests.factories import (
    madrid,
    make_account,
    make_contract,
    make_supply_point,
    make_tariff,
)

pytestmark = pytest.mark.django_db
Status = Contract.Status
NOW = madrid(2026, 3, 10, 10, 0)


def _log_entries(contract: Contract) -> list[LogEntry]:
    content_type = ContentType.objects.get_for_model(Contract)
    return list(
        LogEntry.objects.filter(content_type=content_type, object_pk=str(contract.pk)).order_by(
            "timestamp", "id"
        )
    )


def test_transition_table_is_exactly_the_documented_lifecycle() -> None:
    assert {
        "PENDING": frozenset({"COOLING_OFF", "ACTIVE", "CANCELLED"}),
        "COOLING_OFF": frozenset({"ACTIVE", "CANCELLED"}),
        "ACTIVE": frozenset({"ENDED"}),
        "ENDED": frozenset(),
        "CANCELLED": frozenset(),
    } == services.TRANSITIONS


def test_staff_activates_a_pending_contract_and_who_did_it_is_recorded(
    make_user: Callable[..., User],
) -> None:
    agent = make_user("agent@staff.example.com", role="support_agent")
    contract = make_contract(
        account=make_account(None),
        supply_point=make_supply_point(),
        tariff=make_tariff("flat"),
        start_date=dt.date(2026, 3, 1),
        status=Status.PENDING,
    )
    services.contract_transition(
        contract=contract,
        to_status=Status.ACTIVE,
        actor=agent,
        actor_label="staff:agent@staff.example.com",
        reason="Customer called",
        now=NOW,
    )
    contract.refresh_from_db()
    assert contract.status == Status.ACTIVE
    change = ContractStatusChange.objects.filter(contract=contract).order_by("id").last()
    assert change is not None
    assert (change.from_status, change.to_status) == ("PENDING", "ACTIVE")
    assert change.actor == agent
    assert change.actor_label == "staff:agent@staff.example.com"
    assert change.reason == "Customer called"
    assert change.changed_at == NOW
    entry = _log_entries(contract)[-1]
    assert entry.actor == agent
    assert entry.changes_dict["status"] == ["PENDING", "ACTIVE"]


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [
        ("ENDED", "ACTIVE"),
        ("CANCELLED", "PENDING"),
        ("ACTIVE", "CANCELLED"),
        ("ACTIVE", "PENDING"),
        ("COOLING_OFF", "ENDED"),
        ("PENDING", "ENDED"),
        ("PENDING", "PENDING"),
    ],
)
def test_illegal_transition_is_refused_and_nothing_changes(
    from_status: str, to_status: str
) -> None:
    contract = make_contract(
        account=make_account(None),
        supply_point=make_supply_point(),
        tariff=make_tariff("flat"),
        start_date=dt.date(2026, 3, 1),
        end_date=dt.date(2026, 4, 1),
        status=from_status,
    )
    changes_before = ContractStatusChange.objects.count()
    log_before = len(_log_entries(contract))
    with pytest.raises(services.IllegalTransition) as excinfo:
        services.contract_transition(
            contract=contract, to_status=to_status, actor=None, actor_label="test", now=NOW
        )
    assert str(excinfo.value) == (
        f"Contract {contract.number} cannot go from {Status(from_status).label} "
        f"to {Status(to_status).label}."
    )
    contract.refresh_from_db()
    assert contract.status == from_status
    assert ContractStatusChange.objects.count() == changes_before
    assert len(_log_entries(contract)) == log_before


def test_transition_checks_the_stored_status_not_a_stale_copy() -> None:
    contract = make_contract(
        account=make_account(None),
        supply_point=make_supply_point(),
        tariff=make_tariff("flat"),
        start_date=dt.date(2026, 3, 1),
        status=Status.PENDING,
    )
    stale = Contract.objects.get(pk=contract.pk)
    Contract.objects.filter(pk=contract.pk).update(status=Status.CANCELLED)
    with pytest.raises(services.IllegalTransition):
        services.contract_transition(
            contract=stale, to_status=Status.ACTIVE, actor=None, actor_label="test", now=NOW
        )
    assert Contract.objects.get(pk=contract.pk).status == Status.CANCELLED


# --- No two live contracts on one supply point --------------------------------------------


def test_overlapping_live_contract_is_refused_by_the_database() -> None:
    account = make_account(None)
    point = make_supply_point()
    tariff = make_tariff("flat")
    make_contract(
        account=account,
        supply_point=point,
        tariff=tariff,
        start_date=dt.date(2026, 1, 1),
        end_date=dt.date(2026, 7, 1),
    )
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Contract.objects.create(
            number="C-X1",
            account=account,
            supply_point=point,
            tariff=tariff,
            start_date=dt.date(2026, 6, 30),
            status=Status.PENDING,
        )
    assert excinfo.value.__cause__.diag.constraint_name == services.OVERLAP_CONSTRAINT  # type: ignore[union-attr]
    assert Contract.objects.filter(supply_point=point).count() == 1


def test_adjacent_half_open_contracts_and_dead_ones_do_not_overlap() -> None:
    account = make_account(None)
    point = make_supply_point()
    tariff = make_tariff("flat")
    make_contract(
        account=account,
        supply_point=point,
        tariff=tariff,
        start_date=dt.date(2026, 1, 1),
        end_date=dt.date(2026, 7, 1),
    )
    make_contract(
        account=account,
        supply_point=point,
        tariff=tariff,
        start_date=dt.date(2026, 2, 1),
        status=Status.CANCELLED,
    )
    follower = make_contract(
        account=account,
        supply_point=point,
        tariff=tariff,
        start_date=dt.date(2026, 7, 1),
        status=Status.PENDING,
    )
    assert follower.pk is not None
    assert Contract.objects.filter(supply_point=point).count() == 3


def test_creating_an_overlapping_contract_names_the_contract_in_the_way(
    make_user: Callable[..., User],
) -> None:
    agent = make_user("agent@staff.example.com", role="support_agent")
    account = make_account(None)
    point = make_supply_point()
    tariff = make_tariff("flat")
    existing = make_contract(
        account=account,
        supply_point=point,
        tariff=tariff,
        start_date=dt.date(2026, 1, 1),
        end_date=dt.date(2026, 7, 1),
    )
    with pytest.raises(services.SupplyPointOverlap) as excinfo:
        services.contract_create(
            account=account,
            supply_point=point,
            tariff=tariff,
            start_date=dt.date(2026, 5, 1),
            actor=agent,
            actor_label="staff:agent",
            now=NOW,
        )
    assert str(excinfo.value) == (
        f"Supply point {point.external_id} already has contract {existing.number} "
        "from 2026-01-01 to 2026-07-01."
    )
    assert excinfo.value.field == "start_date"
    assert list(Contract.objects.filter(supply_point=point)) == [existing]


def test_overlap_with_another_customer_does_not_reveal_their_contract_number() -> None:
    point = make_supply_point()
    tariff = make_tariff("flat")
    make_contract(
        account=make_account(None, name="Previous tenant"),
        supply_point=point,
        tariff=tariff,
        start_date=dt.date(2026, 1, 1),
    )
    with pytest.raises(services.SupplyPointOverlap) as excinfo:
        services.contract_create(
            account=make_account(None),
            supply_point=point,
            tariff=tariff,
            start_date=dt.date(2026, 5, 1),
            actor=None,
            actor_label="test",
            now=NOW,
        )
    assert str(excinfo.value) == (
        f"Supply point {point.external_id} already has a contract with another customer "
        "from 2026-01-01 to no end date."
    )


def test_contract_create_starts_pending_with_a_numbered_contract_and_a_first_status_row() -> None:
    contract = services.contract_create(
        account=make_account(None),
        supply_point=make_supply_point(),
        tariff=make_tariff("flat"),
        start_date=dt.date(2026, 4, 1),
        actor=None,
        actor_label="system:import",
        now=NOW,
    )
    assert contract.status == Status.PENDING
    assert contract.number.startswith("C-")
    assert len(contract.number) == 9
    changes = list(contract.status_changes.order_by("id").values_list("from_status", "to_status"))  # type: ignore[attr-defined]
    assert changes == [("", "PENDING")]


def test_every_status_change_has_a_status_row_and_an_audit_entry_with_its_actor(
    customer: User,
) -> None:
    from apps.contracts.tests.factories import make_terms
    from apps.metering.identifiers import make_cups

    account = make_account(customer)
    signed = services.contract_sign_up(
        account=account,
        user=customer,
        tariff=make_tariff("green"),
        start_date=dt.date(2026, 3, 20),
        terms=make_terms(),
        accepted_terms=True,
        new_supply_point=services.NewSupplyPoint(
            cups=make_cups(31, 9), line1="Calle 9", postcode="28001", city="Madrid"
        ),
        now=NOW,
    )
    services.contract_cancel(contract=signed, actor=customer, actor_label="customer:ana", now=NOW)
    active = make_contract(
        account=account,
        supply_point=make_supply_point(),
        tariff=make_tariff("flat"),
        start_date=dt.date(2025, 1, 1),
    )
    switched = services.contract_switch_tariff(
        contract=active,
        tariff=make_tariff("night"),
        effective_date=dt.date(2026, 3, 11),
        actor=customer,
        now=NOW,
    )
    services.contracts_apply_scheduled_transitions(now=madrid(2026, 3, 11, 0, 5))

    content_type = ContentType.objects.get_for_model(Contract)
    changes = ContractStatusChange.objects.filter(contract__in=[signed, active, switched]).exclude(
        actor_label="test"
    )
    assert changes.count() == 6  # sign-up 2, cancel 1, switch 1, beat 2 (set-up rows excluded)
    for change in changes.order_by("id"):
        entries = LogEntry.objects.filter(
            content_type=content_type, object_pk=str(change.contract_id)
        )
        if change.from_status:
            matching = [
                e
                for e in entries
                if e.changes_dict.get("status") == [change.from_status, change.to_status]
            ]
        else:
            matching = [e for e in entries if e.action == LogEntry.Action.CREATE]
        assert len(matching) == 1, change
        assert matching[0].actor_id == change.actor_id, change
