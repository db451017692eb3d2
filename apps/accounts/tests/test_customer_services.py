"""Customer, account, contact, address, preference, consent and membership use cases."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from auditlog.models import LogEntry
from django.db import connection

from apps.accounts import services
from apps.accounts.models import (
    Account,
    Address,
    CommunicationPreference,
    ConsentRecord,
    Customer,
    Membership,
    User,
    account_number_is_valid,
    luhn_check_digit,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def _new_account(**overrides: object) -> Account:
    data: dict[str, object] = {
        "name": "Ana García",
        "email": "ana@example.com",
        "line1": "Calle de Alcalá 1",
        "postcode": "28001",
        "city": "Madrid",
        "actor": None,
    }
    data.update(overrides)
    return services.customer_create_with_account(**data)  # type: ignore[arg-type]


# --- Account numbers ------------------------------------------------------------------


def test_luhn_check_digit_matches_the_reference_example() -> None:
    # The worked example of ISO/IEC 7812: 7992739871 → check digit 3.
    assert luhn_check_digit("7992739871") == "3"


def test_new_account_number_is_wl_eight_digits_and_a_check_digit() -> None:
    account = _new_account()
    assert re.fullmatch(r"WL\d{9}", account.number)
    assert luhn_check_digit(account.number[2:10]) == account.number[10]
    assert account_number_is_valid(account.number)


def test_account_number_with_a_wrong_check_digit_is_not_valid() -> None:
    number = _new_account().number
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not account_number_is_valid(wrong)
    assert not account_number_is_valid("WL1234567")
    assert not account_number_is_valid("XX100000009")


def test_account_numbers_are_unique_and_the_database_refuses_a_duplicate() -> None:
    from django.db import IntegrityError, transaction

    numbers = {_new_account(email=f"c{i}@example.com").number for i in range(5)}
    assert len(numbers) == 5
    first = Account.objects.order_by("id").first()
    assert first is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(
            number=first.number, customer=first.customer, billing_address=first.billing_address
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_sign_ups_never_share_an_account_number() -> None:
    def open_accounts(worker: int) -> list[str]:
        try:
            return [_new_account(email=f"w{worker}-{i}@example.com").number for i in range(5)]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        numbers = [n for batch in pool.map(open_accounts, range(6)) for n in batch]
    assert len(numbers) == 30
    assert len(set(numbers)) == 30
    assert all(account_number_is_valid(n) for n in numbers)


# --- Creating a customer ----------------------------------------------------------------


def test_customer_create_with_account_makes_customer_address_account_preferences_and_owner(
    customer: User,
) -> None:
    account = _new_account(phone="+34 600 12 34 56", owner=customer, segment="SME")
    assert account.customer.name == "Ana García"
    assert account.customer.segment == Customer.Segment.SME
    assert account.customer.phone == "+34600123456"
    assert account.billing_address.as_lines() == ["Calle de Alcalá 1", "28001 Madrid"]
    assert CommunicationPreference.objects.filter(customer=account.customer).count() == 1
    assert list(Membership.objects.filter(account=account).values_list("user", "role")) == [
        (customer.pk, "OWNER")
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "  "}, "name"),
        ({"email": "ana@"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"postcode": "99999"}, "postcode"),
        ({"line1": ""}, "line1"),
        ({"billing_day": 31}, "billing_day"),
        ({"segment": "HOUSEHOLD"}, "segment"),
    ],
)
def test_customer_create_refuses_bad_input_naming_the_field_and_writes_nothing(
    overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(services.AccountsInputError) as caught:
        _new_account(**overrides)
    assert caught.value.field == field
    assert (Customer.objects.count(), Account.objects.count(), Address.objects.count()) == (0, 0, 0)


# --- Contact details --------------------------------------------------------------------


def test_customer_changes_phone_and_the_change_is_audited_with_them(customer: User) -> None:
    account = _new_account(owner=customer)
    services.customer_update_contact(
        customer=account.customer, phone="600 11 22 33", actor=customer
    )
    account.customer.refresh_from_db()
    assert account.customer.phone == "600112233"
    entry = LogEntry.objects.get_for_object(account.customer).order_by("-id").first()
    assert entry is not None
    assert entry.actor == customer
    assert entry.changes_dict["phone"] == ["", "600112233"]


def test_customer_cannot_choose_an_unverified_contact_email(
    make_user: Callable[..., User],
) -> None:
    user = make_user("ana@example.com")
    account = _new_account(owner=user)
    with pytest.raises(services.InvalidContactDetails) as caught:
        services.customer_update_contact(
            customer=account.customer, email="someone-else@example.com", actor=user
        )
    assert caught.value.field == "email"
    account.customer.refresh_from_db()
    assert account.customer.email == "ana@example.com"


def test_customer_may_choose_another_verified_address_of_theirs(customer: User) -> None:
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=customer, email="ana.work@example.com", verified=True)
    account = _new_account(owner=customer)
    services.customer_update_contact(
        customer=account.customer, email="ana.work@EXAMPLE.com", actor=customer
    )
    account.customer.refresh_from_db()
    assert account.customer.email == "ana.work@example.com"


def test_staff_may_set_any_well_formed_contact_email(make_user: Callable[..., User]) -> None:
    agent = make_user("agent@staff.example.com", role="support_agent")
    account = _new_account()
    services.customer_update_contact(
        customer=account.customer, email="new@example.org", actor=agent
    )
    account.customer.refresh_from_db()
    assert account.customer.email == "new@example.org"


def test_phone_cannot_be_removed_while_text_messages_are_on() -> None:
    account = _new_account(phone="600112233")
    services.communication_preferences_update(
        customer=account.customer,
        paperless_bills=True,
        email_notifications=True,
        sms_notifications=True,
        actor=None,
    )
    with pytest.raises(services.InvalidContactDetails) as caught:
        services.customer_update_contact(customer=account.customer, phone="", actor=None)
    assert caught.value.field == "phone"
    account.customer.refresh_from_db()
    assert account.customer.phone == "600112233"


# --- Billing address ------------------------------------------------------------------


def test_billing_address_change_writes_a_new_address_and_keeps_the_old_row(
    customer: User,
) -> None:
    account = _new_account(owner=customer)
    old = account.billing_address
    new = services.account_update_billing_address(
        account=account,
        line1="Gran Via 22",
        line2="3º B",
        postcode="28013",
        city="Madrid",
        actor=customer,
    )
    account.refresh_from_db()
    old.refresh_from_db()
    assert new.pk != old.pk
    assert account.billing_address_id == new.pk
    assert old.as_lines() == ["Calle de Alcalá 1", "28001 Madrid"]  # untouched
    assert new.as_lines() == ["Gran Via 22", "3º B", "28013 Madrid"]
    entry = LogEntry.objects.get_for_object(account).order_by("-id").first()
    assert entry is not None
    assert entry.actor == customer
    assert entry.changes_dict["billing_address"] == [str(old.pk), str(new.pk)]


def test_saving_the_same_billing_address_writes_nothing() -> None:
    account = _new_account()
    before = Address.objects.count()
    same = services.account_update_billing_address(
        account=account, line1=" Calle de  Alcalá 1 ", postcode="28 001", city="Madrid", actor=None
    )
    assert same.pk == account.billing_address_id
    assert Address.objects.count() == before


def test_billing_address_with_a_bad_postcode_is_refused_and_nothing_changes() -> None:
    account = _new_account()
    before = (Address.objects.count(), account.billing_address_id)
    with pytest.raises(services.InvalidAddress) as caught:
        services.account_update_billing_address(
            account=account, line1="Gran Via 22", postcode="2801", city="Madrid", actor=None
        )
    assert caught.value.field == "postcode"
    assert "five digits" in caught.value.message
    account.refresh_from_db()
    assert (Address.objects.count(), account.billing_address_id) == before


# --- Consents ---------------------------------------------------------------------------


def _consent(customer: Customer, granted: bool, at: dt.datetime, actor: User | None = None):  # type: ignore[no-untyped-def]
    return services.consent_record(
        customer=customer,
        kind=ConsentRecord.Kind.MARKETING,
        granted=granted,
        actor=actor,
        ip_address="203.0.113.7",
        channel=ConsentRecord.Channel.PORTAL,
        now=at,
    )


def test_consent_history_grows_only_when_the_state_changes(customer: User) -> None:
    account = _new_account(owner=customer)
    person = account.customer
    assert _consent(person, False, NOW) is None  # never given: withdrawing changes nothing
    first = _consent(person, True, NOW + dt.timedelta(minutes=1), customer)
    assert _consent(person, True, NOW + dt.timedelta(minutes=2), customer) is None
    second = _consent(person, False, NOW + dt.timedelta(minutes=3), customer)
    rows = list(
        ConsentRecord.objects.filter(customer=person)
        .order_by("recorded_at", "id")
        .values_list("kind", "granted", "recorded_at", "actor", "ip_address", "channel")
    )
    assert first is not None
    assert second is not None
    assert rows == [
        ("MARKETING", True, NOW + dt.timedelta(minutes=1), customer.pk, "203.0.113.7", "PORTAL"),
        ("MARKETING", False, NOW + dt.timedelta(minutes=3), customer.pk, "203.0.113.7", "PORTAL"),
    ]


def test_consents_are_independent_per_kind() -> None:
    from apps.accounts.selectors import consents_in_force

    person = _new_account().customer
    services.consent_record(
        customer=person,
        kind=ConsentRecord.Kind.USAGE_INSIGHTS,
        granted=True,
        actor=None,
        ip_address=None,
        channel=ConsentRecord.Channel.PHONE,
        now=NOW,
    )
    assert consents_in_force(person) == {"MARKETING": False, "USAGE_INSIGHTS": True}


def test_consent_with_a_naive_time_or_unknown_kind_is_refused() -> None:
    person = _new_account().customer
    with pytest.raises(services.InvalidConsent) as caught:
        _consent(person, True, NOW.replace(tzinfo=None))
    assert caught.value.field == "now"
    with pytest.raises(services.InvalidConsent) as caught:
        services.consent_record(
            customer=person,
            kind="NEWSLETTER",
            granted=True,
            actor=None,
            ip_address=None,
            channel="PORTAL",
            now=NOW,
        )
    assert caught.value.field == "kind"
    assert ConsentRecord.objects.count() == 0


# --- Preferences and memberships --------------------------------------------------------


def test_text_messages_need_a_phone_number() -> None:
    person = _new_account().customer
    with pytest.raises(services.InvalidPreferences) as caught:
        services.communication_preferences_update(
            customer=person,
            paperless_bills=True,
            email_notifications=True,
            sms_notifications=True,
            actor=None,
        )
    assert caught.value.field == "sms_notifications"
    assert CommunicationPreference.objects.get(customer=person).sms_notifications is False


def test_a_failing_consent_rolls_back_the_preferences_saved_with_it() -> None:
    person = _new_account().customer
    with pytest.raises(services.InvalidConsent):
        services.customer_preferences_update(
            customer=person,
            paperless_bills=False,
            email_notifications=False,
            sms_notifications=False,
            consents={"MARKETING": True},
            actor=None,
            ip_address=None,
            channel="CARRIER_PIGEON",
            now=NOW,
        )
    preference = CommunicationPreference.objects.get(customer=person)
    assert (preference.paperless_bills, preference.email_notifications) == (True, True)
    assert ConsentRecord.objects.count() == 0


def test_membership_add_links_a_user_once(make_user: Callable[..., User]) -> None:
    account = _new_account()
    helper = make_user("helper@example.com")
    services.membership_add(account=account, user=helper, role="MEMBER", actor=None)
    with pytest.raises(services.AlreadyMember) as caught:
        services.membership_add(account=account, user=helper, role="OWNER", actor=None)
    assert caught.value.field == "user"
    assert list(Membership.objects.filter(account=account).values_list("role", flat=True)) == [
        "MEMBER"
    ]
