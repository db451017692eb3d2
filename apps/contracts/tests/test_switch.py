"""A customer switches tariff: window, exit fee, atomicity under concurrent requests."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client

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
from apps.tariffs.models import Tariff

Status = Contract.Status
NOW = madrid(2026, 3, 10, 10, 0)


@pytest.fixture
def frozen() -> Any:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _active(customer: User | None, *, tariff: Tariff, start: dt.date) -> Contract:
    return make_contract(
        account=make_account(customer),
        supply_point=make_supply_point(),
        tariff=tariff,
        start_date=start,
    )


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_customer_switches_tariff_and_the_old_contract_ends_the_day_before(
    customer: User,
) -> None:
    old_tariff = make_tariff("fixed-12", contract_months=12, exit_fee="30.00")
    contract = _active(customer, tariff=old_tariff, start=dt.date(2025, 9, 1))
    new_tariff = make_tariff("tou", name="Night Saver")
    new = services.contract_switch_tariff(
        contract=contract,
        tariff=new_tariff,
        effective_date=dt.date(2026, 4, 1),
        actor=customer,
        now=NOW,
    )
    contract.refresh_from_db()
    assert contract.end_date == dt.date(2026, 4, 1)
    assert contract.last_day == dt.date(2026, 3, 31)
    assert contract.status == Status.ACTIVE
    assert contract.exit_fee == Decimal("30.00")  # 12-month term runs until 2026-09-01
    assert (new.status, new.tariff, new.start_date, new.end_date, new.previous) == (
        Status.PENDING,
        new_tariff,
        dt.date(2026, 4, 1),
        None,
        contract,
    )
    assert (new.account, new.supply_point) == (contract.account, contract.supply_point)
    change = ContractStatusChange.objects.get(contract=new)
    assert (change.from_status, change.to_status, change.actor) == ("", "PENDING", customer)
    assert change.reason == f"Switch from {contract.number}"


@pytest.mark.django_db
def test_no_exit_fee_once_the_minimum_term_has_run(customer: User) -> None:
    contract = _active(
        customer,
        tariff=make_tariff("fixed-12", contract_months=12, exit_fee="30.00"),
        start=dt.date(2025, 3, 11),
    )
    quote = services.contract_switch_quote(
        contract=contract, tariff=make_tariff("other"), effective_date=dt.date(2026, 3, 11), now=NOW
    )
    assert (quote.exit_fee, quote.term_ends_on) == (Decimal("0"), dt.date(2026, 3, 11))
    early = services.contract_switch_quote(
        contract=contract,
        tariff=Tariff.objects.get(code="other"),
        effective_date=dt.date(2026, 3, 10),  # the last day of the term is 2026-03-10
        now=madrid(2026, 3, 9, 10, 0),
    )
    assert early.exit_fee == Decimal("30.00")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("effective", "message"),
    [
        (dt.date(2026, 3, 10), "The switch date must be between 2026-03-11 and 2026-05-09."),
        (dt.date(2026, 5, 10), "The switch date must be between 2026-03-11 and 2026-05-09."),
    ],
)
def test_switch_date_outside_the_window_is_refused(
    customer: User, effective: dt.date, message: str
) -> None:
    contract = _active(customer, tariff=make_tariff("flat"), start=dt.date(2025, 1, 1))
    with pytest.raises(services.InvalidEffectiveDate) as excinfo:
        services.contract_switch_tariff(
            contract=contract,
            tariff=make_tariff("other"),
            effective_date=effective,
            actor=customer,
            now=NOW,
        )
    assert str(excinfo.value) == message
    assert excinfo.value.field == "effective_date"
    contract.refresh_from_db()
    assert contract.end_date is None
    assert Contract.objects.count() == 1


@pytest.mark.django_db
def test_last_day_of_the_window_is_accepted(customer: User) -> None:
    contract = _active(customer, tariff=make_tariff("flat"), start=dt.date(2025, 1, 1))
    new = services.contract_switch_tariff(
        contract=contract,
        tariff=make_tariff("other"),
        effective_date=dt.date(2026, 5, 9),
        actor=customer,
        now=NOW,
    )
    assert new.start_date == dt.date(2026, 5, 9)


@pytest.mark.django_db
def test_switch_to_the_same_tariff_or_of_a_contract_not_active_is_refused(customer: User) -> None:
    flat = make_tariff("flat", name="Flat")
    contract = _active(customer, tariff=flat, start=dt.date(2025, 1, 1))
    with pytest.raises(services.TariffNotAvailable) as same:
        services.contract_switch_tariff(
            contract=contract,
            tariff=flat,
            effective_date=dt.date(2026, 4, 1),
            actor=customer,
            now=NOW,
        )
    assert str(same.value) == f"Contract {contract.number} is already on Flat."
    Contract.objects.filter(pk=contract.pk).update(status=Status.PENDING)
    with pytest.raises(services.SwitchNotAllowed) as pending:
        services.contract_switch_tariff(
            contract=contract,
            tariff=make_tariff("other"),
            effective_date=dt.date(2026, 4, 1),
            actor=customer,
            now=NOW,
        )
    assert str(pending.value) == (
        f"Only an active contract can be switched; {contract.number} is pending."
    )
    assert Contract.objects.count() == 1


@pytest.mark.django_db
def test_second_switch_of_the_same_contract_is_refused(customer: User) -> None:
    contract = _active(customer, tariff=make_tariff("flat"), start=dt.date(2025, 1, 1))
    night = make_tariff("night", name="Night Saver")
    services.contract_switch_tariff(
        contract=contract,
        tariff=night,
        effective_date=dt.date(2026, 4, 1),
        actor=customer,
        now=NOW,
    )
    stale = Contract.objects.get(pk=contract.pk)
    stale.end_date = None  # as a second browser tab would still believe
    with pytest.raises(services.AlreadySwitching) as excinfo:
        services.contract_switch_tariff(
            contract=stale,
            tariff=make_tariff("green"),
            effective_date=dt.date(2026, 4, 15),
            actor=customer,
            now=NOW,
        )
    assert str(excinfo.value) == (
        f"Contract {contract.number} is already being switched to Night Saver from 2026-04-01."
    )
    assert Contract.objects.count() == 2


@pytest.mark.django_db
def test_cancelling_a_pending_switch_keeps_the_old_contract_going(customer: User) -> None:
    contract = _active(
        customer,
        tariff=make_tariff("fixed", contract_months=12, exit_fee="30"),
        start=dt.date(2025, 9, 1),
    )
    new = services.contract_switch_tariff(
        contract=contract,
        tariff=make_tariff("night"),
        effective_date=dt.date(2026, 4, 1),
        actor=customer,
        now=NOW,
    )
    services.contract_cancel(contract=new, actor=customer, actor_label="customer", now=NOW)
    contract.refresh_from_db()
    new.refresh_from_db()
    assert new.status == Status.CANCELLED
    assert (contract.status, contract.end_date, contract.exit_fee) == (
        Status.ACTIVE,
        None,
        Decimal("0"),
    )
    again = services.contract_switch_tariff(
        contract=contract,
        tariff=make_tariff("green"),
        effective_date=dt.date(2026, 4, 2),
        actor=customer,
        now=NOW,
    )
    assert again.previous == contract


@pytest.mark.django_db
def test_pending_switch_cannot_be_cancelled_once_it_has_started(customer: User) -> None:
    contract = _active(customer, tariff=make_tariff("flat"), start=dt.date(2025, 1, 1))
    new = services.contract_switch_tariff(
        contract=contract,
        tariff=make_tariff("night"),
        effective_date=dt.date(2026, 3, 11),
        actor=customer,
        now=NOW,
    )
    with pytest.raises(services.CancellationNotAllowed) as excinfo:
        services.contract_cancel(
            contract=new, actor=customer, actor_label="c", now=madrid(2026, 3, 11, 8, 0)
        )
    assert str(excinfo.value) == (
        f"Contract {new.number} started on 2026-03-11 and can no longer be cancelled."
    )
    assert Contract.objects.get(pk=new.pk).status == Status.PENDING


# --- The pages -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_switch_confirmation_shows_exit_fee_and_new_prices_before_anything_changes(
    customer: User, frozen: Any
) -> None:
    contract = _active(
        customer,
        tariff=make_tariff("fixed", name="Fixed Year", contract_months=12, exit_fee="45.50"),
        start=dt.date(2025, 9, 1),
    )
    night = make_tariff(
        "night",
        name="Night Saver",
        standing="0.25",
        tou={"P1": "0.300000", "P3": "0.090000"},
        weekday=[["P3"] * 8 + ["P1"] * 16] * 12,
        weekend=[["P3"] * 24] * 12,
        vat="21",
    )
    client = _client(customer)
    form_page = client.get(f"/my/contracts/{contract.pk}/switch/")
    assert form_page.status_code == 200
    assert "Night Saver" in form_page.content.decode()
    response = client.post(
        f"/my/contracts/{contract.pk}/switch/",
        {"tariff": str(night.pk), "effective_date": "2026-04-01"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Exit fee: 45.50 EUR" in body
    assert "minimum term until 2026-09-01" in body
    assert "2026-03-31" in body  # last day on the current tariff
    assert "0.25 EUR/day" in body
    assert "Energy – P1" in body
    assert "0.30 EUR/kWh" in body
    assert "Energy – P3" in body
    assert "0.09 EUR/kWh" in body
    assert "VAT" in body
    assert "21 %" in body
    contract.refresh_from_db()
    assert contract.end_date is None
    assert Contract.objects.count() == 1
    confirmed = client.post(
        f"/my/contracts/{contract.pk}/switch/",
        {"tariff": str(night.pk), "effective_date": "2026-04-01", "confirm": "yes"},
    )
    new = Contract.objects.get(previous=contract)
    assert confirmed.status_code == 302
    assert confirmed["Location"] == f"/my/contracts/{new.pk}/"
    contract.refresh_from_db()
    assert (contract.end_date, contract.exit_fee) == (dt.date(2026, 4, 1), Decimal("45.50"))


@pytest.mark.django_db
def test_switch_refusal_is_shown_on_the_form(customer: User, frozen: Any) -> None:
    contract = _active(customer, tariff=make_tariff("flat"), start=dt.date(2025, 1, 1))
    other = make_tariff("other")
    response = _client(customer).post(
        f"/my/contracts/{contract.pk}/switch/",
        {"tariff": str(other.pk), "effective_date": "2026-03-10", "confirm": "yes"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["effective_date"] == [
        "The switch date must be between 2026-03-11 and 2026-05-09."
    ]
    assert Contract.objects.count() == 1


# --- Two switches at the same time ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_switches_of_one_contract_exactly_one_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customer = User.objects.create_user(email="ana@example.com", password="x" * 20)
    contract = _active(customer, tariff=make_tariff("flat"), start=dt.date(2025, 1, 1))
    night = make_tariff("night", name="Night Saver")
    green = make_tariff("green", name="Green")

    # Hold the lock a moment after the checks, so the second request surely arrives while the
    # first is inside its transaction (otherwise the two could simply run one after the other).
    original_check = services._check_switch

    def slow_check(**kwargs: Any) -> services.SwitchQuote:
        quote = original_check(**kwargs)
        time.sleep(0.3)
        return quote

    monkeypatch.setattr(services, "_check_switch", slow_check)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def attempt(name: str, tariff: Tariff, effective: dt.date) -> None:
        try:
            stale = Contract.objects.get(pk=contract.pk)
            barrier.wait(timeout=5)
            outcomes[name] = services.contract_switch_tariff(
                contract=stale, tariff=tariff, effective_date=effective, actor=customer, now=NOW
            )
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes[name] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=attempt, args=("night", night, dt.date(2026, 4, 1))),
        threading.Thread(target=attempt, args=("green", green, dt.date(2026, 4, 15))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    winners = {name: o for name, o in outcomes.items() if isinstance(o, Contract)}
    losers = {name: o for name, o in outcomes.items() if not isinstance(o, Contract)}
    assert len(winners) == 1, outcomes
    assert len(losers) == 1, outcomes
    ((winner_name, new),) = winners.items()
    ((_loser_name, error),) = losers.items()
    assert isinstance(error, services.AlreadySwitching)
    winner_tariff = {"night": "Night Saver", "green": "Green"}[winner_name]
    assert str(error) == (
        f"Contract {contract.number} is already being switched to {winner_tariff} "
        f"from {new.start_date.isoformat()}."
    )
    assert Contract.objects.filter(previous=contract).count() == 1
    assert Contract.objects.count() == 2
    contract.refresh_from_db()
    assert contract.end_date == new.start_date
