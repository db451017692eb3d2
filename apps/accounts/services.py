"""Account use cases: users and roles, customers, billing accounts, contact details, consents.

Every function here is keyword-only, runs in one transaction and records who
acted (``actor``; ``None`` means the system) on the django-auditlog entries its
writes produce. Bad input raises an ``AccountsInputError`` subclass whose
``field`` names the input at fault and whose message says why; nothing is
written in that case.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from apps.accounts.models import (
    ACCOUNT_NUMBER_PREFIX,
    ACCOUNT_NUMBER_SEQUENCE,
    Account,
    Address,
    CommunicationPreference,
    ConsentRecord,
    Customer,
    Membership,
    User,
    luhn_check_digit,
    normalise_phone,
)
from apps.core.audit import acting_as
from apps.core.clock import require_aware
from apps.core.roles import ROLE_BY_CODE

# --- Exceptions -------------------------------------------------------------------


class UnknownRole(ValueError):
    pass


class AccountsInputError(ValueError):
    """Bad input for an accounts use case. ``field`` names the input; the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidContactDetails(AccountsInputError):
    """A name, phone number or email address that cannot be used."""


class InvalidAddress(AccountsInputError):
    """An address with a missing or malformed part."""


class InvalidPreferences(AccountsInputError):
    """A combination of communication preferences that cannot be honoured."""


class InvalidConsent(AccountsInputError):
    """An unknown consent kind or channel, or a naive timestamp."""


class AlreadyMember(AccountsInputError):
    """The user already acts for this account."""


# --- Audit helper -----------------------------------------------------------------


_acting_as = acting_as  # one audit helper for every app (apps.core.audit)


# --- Users and roles --------------------------------------------------------------


@transaction.atomic
def user_assign_role(*, user: User, role: str) -> User:
    """Put ``user`` in the role's group and set the staff flag the role implies."""
    try:
        definition = ROLE_BY_CODE[role]
    except KeyError:
        raise UnknownRole(f"role: unknown role {role!r}") from None
    group = Group.objects.get(name=definition.code)
    user.groups.add(group)
    if definition.is_staff and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


# --- Addresses --------------------------------------------------------------------

_SPANISH_POSTCODE_PROVINCES = range(1, 53)  # 01 Álava … 52 Melilla


@dataclass(frozen=True, slots=True)
class AddressInput:
    """The parts of a postal address, cleaned (see :func:`address_clean`)."""

    line1: str
    postcode: str
    city: str
    line2: str = ""
    region: str = ""
    country: str = "ES"

    def matches(self, address: Address) -> bool:
        return all(
            getattr(address, name) == getattr(self, name)
            for name in ("line1", "line2", "postcode", "city", "region", "country")
        )


def address_clean(
    *, line1: str, postcode: str, city: str, line2: str = "", region: str = "", country: str = "ES"
) -> AddressInput:
    """Trim and check an address. Raises ``InvalidAddress`` naming the first bad part.

    Lines and city are required; a Spanish postcode is five digits starting
    with a province number from 01 to 52.
    """
    cleaned = AddressInput(
        line1=" ".join((line1 or "").split()),
        line2=" ".join((line2 or "").split()),
        postcode=(postcode or "").replace(" ", "").upper(),
        city=" ".join((city or "").split()),
        region=" ".join((region or "").split()),
        country=(country or "").strip().upper(),
    )
    if not cleaned.line1:
        raise InvalidAddress("line1", _("Enter the street and number."))
    if len(cleaned.line1) > 200:
        raise InvalidAddress("line1", _("Use at most 200 characters."))
    if len(cleaned.line2) > 200:
        raise InvalidAddress("line2", _("Use at most 200 characters."))
    if len(cleaned.country) != 2 or not cleaned.country.isalpha():
        raise InvalidAddress("country", _("Enter the two-letter country code, for example ES."))
    if not cleaned.postcode:
        raise InvalidAddress("postcode", _("Enter the postcode."))
    if cleaned.country == "ES" and (
        len(cleaned.postcode) != 5
        or not cleaned.postcode.isdigit()
        or int(cleaned.postcode[:2]) not in _SPANISH_POSTCODE_PROVINCES
    ):
        raise InvalidAddress(
            "postcode", _("A Spanish postcode is five digits from 01000 to 52999.")
        )
    if len(cleaned.postcode) > 16:
        raise InvalidAddress("postcode", _("Use at most 16 characters."))
    if not cleaned.city:
        raise InvalidAddress("city", _("Enter the town or city."))
    if len(cleaned.city) > 100 or len(cleaned.region) > 100:
        field = "city" if len(cleaned.city) > 100 else "region"
        raise InvalidAddress(field, _("Use at most 100 characters."))
    return cleaned


def _address_create(address: AddressInput) -> Address:
    return Address.objects.create(
        line1=address.line1,
        line2=address.line2,
        postcode=address.postcode,
        city=address.city,
        region=address.region,
        country=address.country,
    )


@transaction.atomic
def address_create(
    *,
    line1: str,
    postcode: str,
    city: str,
    line2: str = "",
    region: str = "",
    country: str = "ES",
    actor: User | None,
) -> Address:
    """Store a new address (e.g. of a premise). Addresses are never edited in place.

    Raises ``InvalidAddress``.
    """
    cleaned = address_clean(
        line1=line1, postcode=postcode, city=city, line2=line2, region=region, country=country
    )
    with _acting_as(actor):
        return _address_create(cleaned)


@transaction.atomic
def account_update_billing_address(
    *,
    account: Account,
    line1: str,
    postcode: str,
    city: str,
    line2: str = "",
    region: str = "",
    country: str = "ES",
    actor: User | None,
) -> Address:
    """Point ``account`` at a new billing address and return it.

    The old ``Address`` row is never edited: bills and letters that copied or
    refer to it stay true (decision 0402). Submitting the address already in
    use changes nothing and returns it. Raises ``InvalidAddress``.
    """
    cleaned = address_clean(
        line1=line1, postcode=postcode, city=city, line2=line2, region=region, country=country
    )
    locked = (
        Account.objects.select_for_update().select_related("billing_address").get(pk=account.pk)
    )
    if cleaned.matches(locked.billing_address):
        return locked.billing_address
    with _acting_as(actor):
        address = _address_create(cleaned)
        locked.billing_address = address
        locked.save(update_fields=["billing_address"])
    account.billing_address = address
    return address


# --- Customers and accounts -------------------------------------------------------


def account_number_allocate() -> str:
    """The next account number: ``WL`` + 8 digits from a sequence + a Luhn check digit.

    The sequence hands each caller a different value even under concurrency;
    a rolled-back transaction leaves a gap, which account numbers may have.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [ACCOUNT_NUMBER_SEQUENCE])
        (value,) = cursor.fetchone()
    digits = f"{value:08d}"
    return f"{ACCOUNT_NUMBER_PREFIX}{digits}{luhn_check_digit(digits)}"


def _clean_email(email: str) -> str:
    value = (email or "").strip()
    if not value:
        raise InvalidContactDetails("email", _("Enter an email address."))
    try:
        validate_email(value)
    except ValidationError:
        raise InvalidContactDetails(
            "email", _("Enter a complete email address, like name@example.com.")
        ) from None
    local, _sep, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def _clean_phone(phone: str) -> str:
    try:
        return normalise_phone(phone)
    except ValueError as exc:
        raise InvalidContactDetails("phone", str(exc)) from None


def _clean_name(name: str) -> str:
    value = " ".join((name or "").split())
    if not value:
        raise InvalidContactDetails("name", _("Enter the name."))
    if len(value) > 200:
        raise InvalidContactDetails("name", _("Use at most 200 characters."))
    return value


@transaction.atomic
def account_create(
    *,
    customer: Customer,
    line1: str,
    postcode: str,
    city: str,
    line2: str = "",
    region: str = "",
    country: str = "ES",
    billing_day: int = 1,
    owner: User | None = None,
    actor: User | None,
) -> Account:
    """Open a billing account for ``customer`` with its own billing address.

    The number is allocated by :func:`account_number_allocate`. ``owner``, if
    given, becomes the account's OWNER member. Raises ``InvalidAddress`` or
    ``AccountsInputError`` (field ``billing_day``, 1 to 28).
    """
    if not 1 <= billing_day <= 28:
        raise AccountsInputError("billing_day", _("Choose a day from 1 to 28."))
    cleaned = address_clean(
        line1=line1, postcode=postcode, city=city, line2=line2, region=region, country=country
    )
    with _acting_as(actor):
        account = Account.objects.create(
            number=account_number_allocate(),
            customer=customer,
            billing_address=_address_create(cleaned),
            billing_day=billing_day,
        )
        if owner is not None:
            Membership.objects.create(user=owner, account=account, role=Membership.Role.OWNER)
    return account


@transaction.atomic
def customer_create_with_account(
    *,
    name: str,
    email: str,
    line1: str,
    postcode: str,
    city: str,
    line2: str = "",
    region: str = "",
    country: str = "ES",
    kind: str = Customer.Kind.PERSON,
    segment: str = Customer.Segment.RESIDENTIAL,
    phone: str = "",
    tax_id: str = "",
    has_ev: bool = False,
    is_vulnerable: bool = False,
    billing_day: int = 1,
    owner: User | None = None,
    actor: User | None,
) -> Account:
    """Create a customer, its default communication preferences and a first billing account.

    Returns the account (``account.customer`` is the new customer). Raises
    ``InvalidContactDetails`` (name, email, phone), ``InvalidAddress`` or
    ``AccountsInputError`` (kind, segment, billing_day).
    """
    if kind not in Customer.Kind.values:
        raise AccountsInputError("kind", _("Choose a person or a business."))
    if segment not in Customer.Segment.values:
        raise AccountsInputError("segment", _("Choose residential, small business or commercial."))
    with _acting_as(actor):
        customer = Customer.objects.create(
            kind=kind,
            name=_clean_name(name),
            email=_clean_email(email),
            phone=_clean_phone(phone),
            tax_id=(tax_id or "").strip().upper(),
            segment=segment,
            has_ev=has_ev,
            is_vulnerable=is_vulnerable,
        )
        CommunicationPreference.objects.create(customer=customer)
    return account_create(
        customer=customer,
        line1=line1,
        postcode=postcode,
        city=city,
        line2=line2,
        region=region,
        country=country,
        billing_day=billing_day,
        owner=owner,
        actor=actor,
    )


@transaction.atomic
def customer_update_contact(
    *,
    customer: Customer,
    actor: User | None,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> Customer:
    """Change the customer's name, phone or contact email (``None`` leaves a part as it is).

    A customer (a non-staff actor) may only choose a contact email they have
    verified at sign-in (allauth), so bills never go to an unproven address;
    staff acting on the customer's behalf may set any well-formed address.
    Switching text-message notifications on needs a phone, so the phone cannot
    be removed while they are on. Raises ``InvalidContactDetails``.
    """
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    changes: dict[str, str] = {}
    if name is not None:
        changes["name"] = _clean_name(name)
    if phone is not None:
        changes["phone"] = _clean_phone(phone)
        if not changes["phone"] and _sms_notifications_on(locked):
            raise InvalidContactDetails(
                "phone",
                _("Text message notifications are on; turn them off before removing the phone."),
            )
    if email is not None:
        changes["email"] = _clean_email(email)
        if (
            changes["email"].lower() != locked.email.lower()
            and actor is not None
            and not actor.is_staff
            and not EmailAddress.objects.filter(
                user=actor, email__iexact=changes["email"], verified=True
            ).exists()
        ):
            raise InvalidContactDetails(
                "email",
                _(
                    "Use one of your verified email addresses. Add and verify a new one "
                    "under Email addresses first."
                ),
            )
    changed = [field for field, value in changes.items() if getattr(locked, field) != value]
    if changed:
        for field in changed:
            setattr(locked, field, changes[field])
        with _acting_as(actor):
            locked.save(update_fields=changed)
        for field in changed:
            setattr(customer, field, changes[field])
    return customer


def _sms_notifications_on(customer: Customer) -> bool:
    return CommunicationPreference.objects.filter(
        customer=customer, sms_notifications=True
    ).exists()


@transaction.atomic
def communication_preferences_update(
    *,
    customer: Customer,
    paperless_bills: bool,
    email_notifications: bool,
    sms_notifications: bool,
    actor: User | None,
) -> CommunicationPreference:
    """Set how the customer hears from us. Raises ``InvalidPreferences``.

    Text messages need a phone number on the customer.
    """
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if sms_notifications and not locked.phone:
        raise InvalidPreferences(
            "sms_notifications", _("Add a phone number to your contact details first.")
        )
    wanted = {
        "paperless_bills": paperless_bills,
        "email_notifications": email_notifications,
        "sms_notifications": sms_notifications,
    }
    with _acting_as(actor):
        preference, created = CommunicationPreference.objects.get_or_create(
            customer=locked, defaults=wanted
        )
        changed = [f for f, v in wanted.items() if getattr(preference, f) != v]
        if changed and not created:
            for field in changed:
                setattr(preference, field, wanted[field])
            preference.save(update_fields=[*changed, "updated_at"])
    return preference


@transaction.atomic
def consent_record(
    *,
    customer: Customer,
    kind: str,
    granted: bool,
    actor: User | None,
    ip_address: str | None,
    channel: str,
    now: dt.datetime,
) -> ConsentRecord | None:
    """Record that ``customer`` gave (``granted``) or withdrew a consent.

    Consent records are append-only: the latest row of a kind is in force.
    A row is written only when the state changes; with no row yet the consent
    counts as not given, so withdrawing it then writes nothing. Returns the new
    row, or ``None`` when nothing changed. Raises ``InvalidConsent``.
    """
    if kind not in ConsentRecord.Kind.values:
        raise InvalidConsent("kind", _("Unknown consent."))
    if channel not in ConsentRecord.Channel.values:
        raise InvalidConsent("channel", _("Unknown channel."))
    try:
        require_aware(now, field="now")
    except ValueError as exc:
        raise InvalidConsent("now", str(exc)) from None
    # Lock the customer so two concurrent submissions cannot both see "unchanged → changed".
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    current = (
        ConsentRecord.objects.filter(customer=locked, kind=kind)
        .order_by("-recorded_at", "-id")
        .values_list("granted", flat=True)
        .first()
    )
    if bool(current) == granted:
        return None
    with _acting_as(actor):
        return ConsentRecord.objects.create(
            customer=locked,
            kind=kind,
            granted=granted,
            recorded_at=now,
            actor=actor,
            channel=channel,
            ip_address=ip_address or None,
        )


@transaction.atomic
def membership_add(*, account: Account, user: User, role: str, actor: User | None) -> Membership:
    """Let ``user`` act for ``account`` with ``role`` (OWNER or MEMBER).

    Raises ``AccountsInputError`` (field ``role``) or ``AlreadyMember`` (field ``user``).
    """
    if role not in Membership.Role.values:
        raise AccountsInputError("role", _("Choose owner or member."))
    try:
        with transaction.atomic(), _acting_as(actor):
            return Membership.objects.create(account=account, user=user, role=role)
    except IntegrityError:
        raise AlreadyMember(
            "user",
            _("%(user)s already acts for account %(number)s.")
            % {
                "user": user.email,
                "number": account.number,
            },
        ) from None


@transaction.atomic
def customer_preferences_update(
    *,
    customer: Customer,
    paperless_bills: bool,
    email_notifications: bool,
    sms_notifications: bool,
    consents: dict[str, bool],
    actor: User | None,
    ip_address: str | None,
    channel: str,
    now: dt.datetime,
) -> list[ConsentRecord]:
    """Save communication preferences and consents together (one form in the portal).

    Returns the consent records written (only for consents whose state changed).
    Raises ``InvalidPreferences`` or ``InvalidConsent``; then nothing is saved.
    """
    communication_preferences_update(
        customer=customer,
        paperless_bills=paperless_bills,
        email_notifications=email_notifications,
        sms_notifications=sms_notifications,
        actor=actor,
    )
    written = []
    for kind in sorted(consents):
        record = consent_record(
            customer=customer,
            kind=kind,
            granted=consents[kind],
            actor=actor,
            ip_address=ip_address,
            channel=channel,
            now=now,
        )
        if record is not None:
            written.append(record)
    return written
