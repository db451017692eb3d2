"""Contract use cases: create, sign up, transition, cancel, switch tariff, scheduled moves.

Every status change goes through :func:`contract_transition` (or its locked core), which
checks the transition table, locks the row and writes a ``ContractStatusChange`` in the same
transaction; django-auditlog records the row changes with the actor set by ``set_actor``.
The lifecycle is explained in docs/decisions/0300-contract-lifecycle.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from apps.accounts.models import Account, Membership, User
from apps.accounts.selectors import membership_role
from apps.accounts.services import InvalidAddress, address_create
from apps.contracts import selectors
from apps.contracts.models import (
    LIVE_STATUSES,
    Contract,
    ContractStatusChange,
    TermsAcceptance,
    TermsVersion,
)
from apps.core import clock
from apps.core.audit import acting_as
from apps.metering import selectors as metering_selectors
from apps.metering.identifiers import InvalidCups, normalise_cups
from apps.metering.models import Premise, SupplyPoint
from apps.tariffs import selectors as tariff_selectors
from apps.tariffs.models import Tariff

Status = Contract.Status

#: Which status may follow which (decision 0300). Anything else is refused.
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    Status.PENDING: frozenset({Status.COOLING_OFF, Status.ACTIVE, Status.CANCELLED}),
    Status.COOLING_OFF: frozenset({Status.ACTIVE, Status.CANCELLED}),
    Status.ACTIVE: frozenset({Status.ENDED}),
    Status.ENDED: frozenset(),
    Status.CANCELLED: frozenset(),
}

COOLING_OFF_DAYS: Final = 14
#: A new supply may start from tomorrow up to this many days ahead (decision 0301).
SIGN_UP_WINDOW_DAYS: Final = 90
#: A tariff switch takes effect from tomorrow up to this many days ahead (decision 0302).
SWITCH_WINDOW_DAYS: Final = 60
SYSTEM_BEAT: Final = "system:beat"
OVERLAP_CONSTRAINT: Final = "contracts_contract_no_overlap_per_supply_point"
SUCCESSOR_CONSTRAINT: Final = "contracts_contract_one_live_successor"


# --------------------------------------------------------------------------------------------
# Exceptions: every refusal names the field at fault (None when it is the whole request).
# --------------------------------------------------------------------------------------------


class ContractError(Exception):
    """A refused contract operation; ``field`` is the form field the message belongs to."""

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class IllegalTransition(ContractError):
    """The transition table does not allow moving from the current status to the new one."""


class NotAMember(ContractError):
    """The user may not sign for the account (not an OWNER of it)."""


class SupplyPointOverlap(ContractError):
    """A live contract of the supply point already covers some of the dates."""

    field = "start_date"


class InvalidStartDate(ContractError):
    field = "start_date"


class TariffNotAvailable(ContractError):
    field = "tariff"


class TermsNotAccepted(ContractError):
    field = "accept_terms"


class InvalidSupplyPoint(ContractError):
    field = "cups"


class CancellationNotAllowed(ContractError):
    """The contract cannot be cancelled online any more (or never could)."""


class SwitchNotAllowed(ContractError):
    """The contract cannot be switched to that tariff on that date."""


class AlreadySwitching(SwitchNotAllowed):
    """The contract already has a switch (or an end) scheduled."""


class InvalidEffectiveDate(SwitchNotAllowed):
    field = "effective_date"


def terms_changed_message() -> str:
    """The refusal shown when the terms in force changed while the customer was signing."""
    return _("The terms have changed since you opened this page. Please read the new version.")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


#: What the audit context is reset to after a service ran outside any request context; its
#: signal id matches no receiver, so it names no one and is never mistaken for a live context.
_acting_as = acting_as  # one audit helper for every app (apps.core.audit)


def actor_label_for(user: User | None, *, role: str = "customer") -> str:
    """How a status change names who made it: ``customer:ana@example.com``, ``system:beat``."""
    if user is None:
        return SYSTEM_BEAT
    return f"{role}:{user.email}"[:80]


def cooling_off_end(signed_at: dt.datetime, *, tz: ZoneInfo | None = None) -> dt.datetime:
    """End of the 14-day cooling-off period of a contract signed at ``signed_at``.

    The day of signature does not count; the period ends at the end of the 14th day after it
    (local midnight starting day 15), as the EU consumer-rights directive counts it.
    """
    zone = tz or clock.local_zone()
    signed_on = signed_at.astimezone(zone).date()
    return clock.local_midnight(signed_on + dt.timedelta(days=COOLING_OFF_DAYS + 1), zone)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months, clamped to the end of a shorter month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    following = dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)
    last_day = (following - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last_day))


def _next_contract_number() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('contracts_contract_number_seq')")
        (value,) = cursor.fetchone()
    return f"C-{value:07d}"


def _constraint_of(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def overlap_message(
    *, supply_point: SupplyPoint, start_date: dt.date, end_date: dt.date | None, account: Account
) -> str | None:
    """Which live contract of ``supply_point`` is in the way of [start_date, end_date), if any.

    The contract number is named only when it belongs to ``account`` (decision 0301).
    """
    blocking = selectors.live_contracts_overlapping(
        supply_point_id=supply_point.pk, start_date=start_date, end_date=end_date
    )
    if not blocking:
        return None
    other = blocking[0]
    end = other.end_date.isoformat() if other.end_date else _("no end date")
    if other.account_id == account.pk:
        message = _(
            "Supply point %(cups)s already has contract %(number)s from %(start)s to %(end)s."
        ) % {
            "cups": supply_point.external_id,
            "number": other.number,
            "start": other.start_date.isoformat(),
            "end": end,
        }
    else:  # never show another customer's contract number (decision 0301)
        message = _(
            "Supply point %(cups)s already has a contract with another customer "
            "from %(start)s to %(end)s."
        ) % {"cups": supply_point.external_id, "start": other.start_date.isoformat(), "end": end}
    return message


def _overlap_error(
    *, supply_point: SupplyPoint, start_date: dt.date, end_date: dt.date | None, account: Account
) -> SupplyPointOverlap:
    message = overlap_message(
        supply_point=supply_point, start_date=start_date, end_date=end_date, account=account
    )
    if message is None:  # the blocking contract went away meanwhile; still refuse this attempt
        message = _("Supply point %(cups)s already has a contract for some of these dates.") % {
            "cups": supply_point.external_id
        }
    return SupplyPointOverlap(message)


def _record_change(
    *,
    contract: Contract,
    from_status: str,
    to_status: str,
    actor: User | None,
    actor_label: str,
    reason: str,
    now: dt.datetime,
) -> ContractStatusChange:
    return ContractStatusChange.objects.create(
        contract=contract,
        from_status=from_status,
        to_status=to_status,
        changed_at=now,
        actor=actor,
        actor_label=actor_label[:80],
        reason=reason[:200],
    )


def _transition_locked(
    *,
    contract: Contract,
    to_status: str,
    actor: User | None,
    actor_label: str,
    reason: str,
    now: dt.datetime,
) -> Contract:
    """Move an already locked ``contract`` (inside an atomic block) to ``to_status``."""
    from_status = contract.status
    if to_status not in TRANSITIONS.get(from_status, frozenset()):
        raise IllegalTransition(
            _("Contract %(number)s cannot go from %(from)s to %(to)s.")
            % {
                "number": contract.number,
                "from": Status(from_status).label,
                "to": Status(to_status).label if to_status in Status.values else to_status,
            },
            field="status",
        )
    contract.status = to_status
    contract.save(update_fields=["status"])
    _record_change(
        contract=contract,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        actor_label=actor_label,
        reason=reason,
        now=now,
    )
    return contract


def _create_pending(
    *,
    account: Account,
    supply_point: SupplyPoint,
    tariff: Tariff,
    start_date: dt.date,
    end_date: dt.date | None = None,
    previous: Contract | None = None,
    actor: User | None,
    actor_label: str,
    reason: str,
    now: dt.datetime,
) -> Contract:
    """Insert a PENDING contract and its first status change; overlap → SupplyPointOverlap."""
    contract = Contract(
        number=_next_contract_number(),
        account=account,
        supply_point=supply_point,
        tariff=tariff,
        start_date=start_date,
        end_date=end_date,
        status=Status.PENDING,
        previous=previous,
        signed_at=now,
    )
    try:
        with transaction.atomic():
            contract.save(force_insert=True)
    except IntegrityError as exc:
        constraint = _constraint_of(exc)
        if constraint == OVERLAP_CONSTRAINT:
            raise _overlap_error(
                supply_point=supply_point, start_date=start_date, end_date=end_date, account=account
            ) from None
        if constraint == SUCCESSOR_CONSTRAINT and previous is not None:
            raise _already_switching(previous) from None
        raise
    _record_change(
        contract=contract,
        from_status="",
        to_status=Status.PENDING,
        actor=actor,
        actor_label=actor_label,
        reason=reason,
        now=now,
    )
    return contract


# --------------------------------------------------------------------------------------------
# Transition
# --------------------------------------------------------------------------------------------


def contract_transition(
    *,
    contract: Contract,
    to_status: str,
    actor: User | None,
    actor_label: str,
    reason: str = "",
    now: dt.datetime,
) -> Contract:
    """Move ``contract`` to ``to_status`` if the transition table allows it.

    Locks the row (``SELECT … FOR UPDATE``), re-reads its status, writes the status change
    (who, when, why) in the same transaction and returns the updated contract.

    Raises:
        IllegalTransition: the table does not allow the move; nothing is changed.
    """
    with transaction.atomic(), _acting_as(actor):
        locked = Contract.objects.select_for_update().get(pk=contract.pk)
        _transition_locked(
            contract=locked,
            to_status=to_status,
            actor=actor,
            actor_label=actor_label,
            reason=reason,
            now=now,
        )
    contract.status = locked.status
    return locked


# --------------------------------------------------------------------------------------------
# Creating contracts
# --------------------------------------------------------------------------------------------


def contract_create(
    *,
    account: Account,
    supply_point: SupplyPoint,
    tariff: Tariff,
    start_date: dt.date,
    end_date: dt.date | None = None,
    actor: User | None,
    actor_label: str,
    now: dt.datetime,
) -> Contract:
    """Create a PENDING contract (staff on the customer's behalf, data migration, demo data).

    No customer-facing date window applies; the scheduled transitions activate it at its
    start date.

    Raises:
        SupplyPointOverlap: a live contract of the supply point covers some of these dates.
    """
    with transaction.atomic(), _acting_as(actor):
        return _create_pending(
            account=account,
            supply_point=supply_point,
            tariff=tariff,
            start_date=start_date,
            end_date=end_date,
            actor=actor,
            actor_label=actor_label,
            reason=_("Created"),
            now=now,
        )


@dataclass(frozen=True)
class NewSupplyPoint:
    """A supply point the customer adds while signing up: its CUPS and the premise address."""

    cups: str
    line1: str
    postcode: str
    city: str
    line2: str = ""
    region: str = ""
    kind: str = Premise.Kind.HOUSE


def _check_tariff(*, tariff: Tariff, segment: str, today: dt.date, on: dt.date) -> Tariff:
    """The available, priced tariff row (with prices prefetched) or TariffNotAvailable."""
    available = (
        tariff_selectors.available_tariffs(segment=segment, on=today).filter(pk=tariff.pk).first()
    )
    if available is None:
        raise TariffNotAvailable(
            _("Tariff %(name)s is not available to you.") % {"name": tariff.name}
        )
    if tariff_selectors.version_in_force(available, on) is None:
        raise TariffNotAvailable(
            _("Tariff %(name)s has no prices from %(date)s.")
            % {"name": tariff.name, "date": on.isoformat()}
        )
    return available


def _supply_point_for_sign_up(
    *,
    account: Account,
    supply_point: SupplyPoint | None,
    new: NewSupplyPoint | None,
    actor: User,
) -> SupplyPoint:
    if (supply_point is None) == (new is None):
        raise InvalidSupplyPoint(
            _("Choose one of your supply points or add a new one."), field="supply_point"
        )
    if supply_point is not None:
        known = {sp.pk for sp in selectors.supply_points_for_account(account)}
        if supply_point.pk not in known:
            raise InvalidSupplyPoint(
                _("Supply point %(cups)s is not one of yours.")
                % {"cups": supply_point.external_id},
                field="supply_point",
            )
        return supply_point
    assert new is not None
    try:
        cups = normalise_cups(new.cups)
    except InvalidCups as exc:
        raise InvalidSupplyPoint(str(exc)) from None
    existing = metering_selectors.supply_point_by_cups(cups)
    if existing is not None:
        # A home that had supply before keeps its CUPS; the stored premise stays (decision 0301).
        return existing
    try:
        address = address_create(
            line1=new.line1,
            line2=new.line2,
            postcode=new.postcode,
            city=new.city,
            region=new.region,
            actor=actor,
        )
    except InvalidAddress as exc:
        raise InvalidSupplyPoint(exc.message, field=exc.field) from None
    premise = Premise.objects.create(address=address, kind=new.kind)
    return SupplyPoint.objects.create(external_id=cups, premise=premise)


def contract_sign_up(
    *,
    account: Account,
    user: User,
    tariff: Tariff,
    start_date: dt.date,
    terms: TermsVersion | None,
    accepted_terms: bool,
    supply_point: SupplyPoint | None = None,
    new_supply_point: NewSupplyPoint | None = None,
    ip_address: str | None = None,
    user_agent: str = "",
    now: dt.datetime,
) -> Contract:
    """Sign ``account`` up for supply online: the contract starts in its cooling-off period.

    Either ``supply_point`` (one the account already has) or ``new_supply_point`` is given.
    The contract is created PENDING, moved to COOLING_OFF at once (signature = ``now``,
    cooling-off for 14 days) and the acceptance of ``terms`` is stored with time, user, IP
    and user agent. All or nothing: a refused sign-up leaves no supply point behind.

    Raises:
        NotAMember: ``user`` is not an OWNER of ``account`` (signing is the holder's act).
        TermsNotAccepted: the box was not ticked, or ``terms`` (the version shown to the
            customer) is not the version in force.
        InvalidStartDate: before tomorrow or more than 90 days ahead.
        TariffNotAvailable: not offered to the customer's segment, or no prices on that date.
        InvalidSupplyPoint: bad CUPS, or a supply point that is not the account's.
        SupplyPointOverlap: a live contract covers the supply point on some of these dates.
    """
    if membership_role(user, account) != Membership.Role.OWNER:
        raise NotAMember(
            _("Only an owner of account %(number)s may sign contracts for it.")
            % {"number": account.number}
        )
    if not accepted_terms:
        raise TermsNotAccepted(_("Please read and accept the terms to sign up."))
    in_force = selectors.current_terms(now=now)
    if in_force is None or terms is None or in_force.pk != terms.pk:
        raise TermsNotAccepted(terms_changed_message())
    tz = clock.local_zone()
    today = now.astimezone(tz).date()
    earliest = today + dt.timedelta(days=1)
    latest = today + dt.timedelta(days=SIGN_UP_WINDOW_DAYS)
    if not earliest <= start_date <= latest:
        raise InvalidStartDate(
            _("The start date must be between %(earliest)s and %(latest)s.")
            % {"earliest": earliest.isoformat(), "latest": latest.isoformat()}
        )
    tariff = _check_tariff(
        tariff=tariff, segment=account.customer.segment, today=today, on=start_date
    )
    label = actor_label_for(user)
    with transaction.atomic(), _acting_as(user, remote_addr=ip_address):
        point = _supply_point_for_sign_up(
            account=account, supply_point=supply_point, new=new_supply_point, actor=user
        )
        contract = _create_pending(
            account=account,
            supply_point=point,
            tariff=tariff,
            start_date=start_date,
            actor=user,
            actor_label=label,
            reason=_("Signed up online"),
            now=now,
        )
        contract.cooling_off_ends_at = cooling_off_end(now, tz=tz)
        contract.save(update_fields=["cooling_off_ends_at"])
        _transition_locked(
            contract=contract,
            to_status=Status.COOLING_OFF,
            actor=user,
            actor_label=label,
            reason=_("Signed online; 14-day cooling-off period"),
            now=now,
        )
        TermsAcceptance.objects.create(
            contract=contract,
            terms=terms,
            user=user,
            accepted_at=now,
            ip_address=ip_address or None,
            user_agent=user_agent[:300],
        )
    return contract


# --------------------------------------------------------------------------------------------
# Cancelling
# --------------------------------------------------------------------------------------------


def cancellation_refusal(contract: Contract, *, now: dt.datetime) -> str | None:
    """Why ``contract`` cannot be cancelled online at ``now``; None when it can."""
    today = now.astimezone(clock.local_zone()).date()
    if contract.status == Status.COOLING_OFF:
        ends = contract.cooling_off_ends_at
        if ends is not None and now >= ends:
            last_day = (ends.astimezone(clock.local_zone()) - dt.timedelta(days=1)).date()
            return _(
                "The 14-day cooling-off period ended on %(date)s. To end the contract, "
                "switch tariff or contact us."
            ) % {"date": last_day.isoformat()}
        return None
    if contract.status == Status.PENDING:
        if contract.start_date <= today:
            return _("Contract %(number)s started on %(date)s and can no longer be cancelled.") % {
                "number": contract.number,
                "date": contract.start_date.isoformat(),
            }
        return None
    return _("A contract that is %(status)s cannot be cancelled online.") % {
        "status": Status(contract.status).label.lower()
    }


def contract_cancel(
    *,
    contract: Contract,
    actor: User | None,
    actor_label: str,
    reason: str = "",
    now: dt.datetime,
) -> Contract:
    """Cancel a contract in its cooling-off period, or a PENDING one before its start date.

    Cancelling the new contract of a pending switch re-opens the contract it replaced (its
    end date and exit fee are cleared), so the customer keeps their supply.

    Raises:
        CancellationNotAllowed: cooling-off over, already started, or not cancellable; the
            message says which. Nothing is changed.
    """
    with transaction.atomic(), _acting_as(actor):
        previous = None
        if contract.previous_id is not None:  # lock order: replaced contract first (as switch)
            previous = Contract.objects.select_for_update().get(pk=contract.previous_id)
        locked = Contract.objects.select_for_update().get(pk=contract.pk)
        refusal = cancellation_refusal(locked, now=now)
        if refusal is not None:
            raise CancellationNotAllowed(refusal)
        _transition_locked(
            contract=locked,
            to_status=Status.CANCELLED,
            actor=actor,
            actor_label=actor_label,
            reason=reason or _("Cancelled"),
            now=now,
        )
        if (
            previous is not None
            and previous.status in LIVE_STATUSES
            and previous.end_date == locked.start_date
        ):
            previous.end_date = None
            previous.exit_fee = Decimal(0)
            previous.save(update_fields=["end_date", "exit_fee"])
    contract.status = locked.status
    return locked


# --------------------------------------------------------------------------------------------
# Switching tariff
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SwitchQuote:
    """What a switch would do: the dates, and the exit fee when the minimum term has not run."""

    contract: Contract
    tariff: Tariff
    effective_date: dt.date
    exit_fee: Decimal
    term_ends_on: dt.date | None
    notes: list[str] = field(default_factory=list)

    @property
    def old_last_day(self) -> dt.date:
        return self.effective_date - dt.timedelta(days=1)


def exit_fee_for(contract: Contract, *, leaving_on: dt.date) -> tuple[Decimal, dt.date | None]:
    """The exit fee due if ``contract`` ends on ``leaving_on`` (exclusive), and its term end."""
    months = contract.tariff.contract_months
    if not months:
        return Decimal(0), None
    term_ends_on = add_months(contract.start_date, months)
    if leaving_on < term_ends_on and contract.tariff.exit_fee > 0:
        return contract.tariff.exit_fee, term_ends_on
    return Decimal(0), term_ends_on


def switch_window(today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last effective date a switch chosen on ``today`` may have."""
    return today + dt.timedelta(days=1), today + dt.timedelta(days=SWITCH_WINDOW_DAYS)


def _already_switching(contract: Contract) -> AlreadySwitching:
    successor = selectors.live_successor(contract)
    if successor is not None:
        return AlreadySwitching(
            _("Contract %(number)s is already being switched to %(tariff)s from %(date)s.")
            % {
                "number": contract.number,
                "tariff": successor.tariff.name,
                "date": successor.start_date.isoformat(),
            }
        )
    assert contract.end_date is not None
    return AlreadySwitching(
        _("Contract %(number)s already ends on %(date)s.")
        % {
            "number": contract.number,
            "date": (contract.end_date - dt.timedelta(days=1)).isoformat(),
        }
    )


def _check_switch(
    *, contract: Contract, tariff: Tariff, effective_date: dt.date, today: dt.date
) -> SwitchQuote:
    if contract.status != Status.ACTIVE:
        raise SwitchNotAllowed(
            _("Only an active contract can be switched; %(number)s is %(status)s.")
            % {"number": contract.number, "status": Status(contract.status).label.lower()}
        )
    if contract.end_date is not None:
        raise _already_switching(contract)
    if tariff.pk == contract.tariff_id:
        raise TariffNotAvailable(
            _("Contract %(number)s is already on %(name)s.")
            % {"number": contract.number, "name": tariff.name}
        )
    earliest, latest = switch_window(today)
    if not earliest <= effective_date <= latest:
        raise InvalidEffectiveDate(
            _("The switch date must be between %(earliest)s and %(latest)s.")
            % {"earliest": earliest.isoformat(), "latest": latest.isoformat()}
        )
    if effective_date <= contract.start_date:
        raise InvalidEffectiveDate(
            _("The switch date must be after the contract's start date %(date)s.")
            % {"date": contract.start_date.isoformat()}
        )
    priced = _check_tariff(
        tariff=tariff, segment=contract.account.customer.segment, today=today, on=effective_date
    )
    fee, term_ends_on = exit_fee_for(contract, leaving_on=effective_date)
    return SwitchQuote(
        contract=contract,
        tariff=priced,
        effective_date=effective_date,
        exit_fee=fee,
        term_ends_on=term_ends_on,
    )


def contract_switch_quote(
    *, contract: Contract, tariff: Tariff, effective_date: dt.date, now: dt.datetime
) -> SwitchQuote:
    """Check a switch without making it, and say what it would cost (for the confirmation page).

    Raises the same exceptions as :func:`contract_switch_tariff`.
    """
    today = now.astimezone(clock.local_zone()).date()
    return _check_switch(
        contract=contract, tariff=tariff, effective_date=effective_date, today=today
    )


def contract_switch_tariff(
    *,
    contract: Contract,
    tariff: Tariff,
    effective_date: dt.date,
    actor: User,
    actor_label: str | None = None,
    now: dt.datetime,
) -> Contract:
    """Switch ``contract`` to ``tariff`` from ``effective_date``, atomically.

    Locks the current contract, sets its end date to ``effective_date`` (half-open: its last
    day is the day before) and the exit fee if the minimum term has not run, and creates the
    new PENDING contract starting ``effective_date`` that replaces it. A concurrent second
    switch waits for the lock and then fails with AlreadySwitching.

    Raises:
        SwitchNotAllowed: the contract is not active.
        AlreadySwitching: a switch (or an end) is already scheduled for the contract.
        InvalidEffectiveDate: outside [tomorrow, today + 60 days] or not after the start.
        TariffNotAvailable: same tariff, not offered to the segment, or no prices then.
        SupplyPointOverlap: another live contract is in the way (should not happen).
    """
    today = now.astimezone(clock.local_zone()).date()
    label = actor_label or actor_label_for(actor)
    with transaction.atomic(), _acting_as(actor):
        locked = (
            Contract.objects.select_for_update(of=("self",))
            .select_related("tariff", "account__customer", "supply_point")
            .get(pk=contract.pk)
        )
        quote = _check_switch(
            contract=locked, tariff=tariff, effective_date=effective_date, today=today
        )
        locked.end_date = effective_date
        locked.exit_fee = quote.exit_fee
        locked.save(update_fields=["end_date", "exit_fee"])
        new = _create_pending(
            account=locked.account,
            supply_point=locked.supply_point,
            tariff=quote.tariff,
            start_date=effective_date,
            previous=locked,
            actor=actor,
            actor_label=label,
            reason=_("Switch from %(number)s") % {"number": locked.number},
            now=now,
        )
    contract.end_date = locked.end_date
    contract.exit_fee = locked.exit_fee
    return new


# --------------------------------------------------------------------------------------------
# Scheduled transitions
# --------------------------------------------------------------------------------------------


@dataclass
class ScheduledTransitions:
    """Contract numbers moved by one run of the scheduled transitions."""

    activated: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)


def _is_due_for_activation(contract: Contract, *, today: dt.date, now: dt.datetime) -> bool:
    return (
        contract.status in (Status.PENDING, Status.COOLING_OFF)
        and contract.start_date <= today
        and (contract.cooling_off_ends_at is None or contract.cooling_off_ends_at <= now)
    )


def _is_due_for_end(contract: Contract, *, today: dt.date) -> bool:
    return (
        contract.status == Status.ACTIVE
        and contract.end_date is not None
        and contract.end_date <= today
    )


def contracts_apply_scheduled_transitions(*, now: dt.datetime) -> ScheduledTransitions:
    """Activate contracts whose start date has come (and cooling-off is over), end those past
    their end date. One transaction per contract; each is re-checked under its lock, so the
    run is idempotent and safe to overlap with another run: re-running changes nothing.
    """
    today = now.astimezone(clock.local_zone()).date()
    result = ScheduledTransitions()
    starting = (
        Contract.objects.filter(
            status__in=(Status.PENDING, Status.COOLING_OFF), start_date__lte=today
        )
        .exclude(cooling_off_ends_at__gt=now)
        .order_by("start_date", "id")
        .values_list("pk", flat=True)
    )
    for pk in list(starting):
        with transaction.atomic(), _acting_as(None):
            locked = Contract.objects.select_for_update().get(pk=pk)
            if not _is_due_for_activation(locked, today=today, now=now):
                continue
            _transition_locked(
                contract=locked,
                to_status=Status.ACTIVE,
                actor=None,
                actor_label=SYSTEM_BEAT,
                reason=_("Start date reached"),
                now=now,
            )
            result.activated.append(locked.number)
    ending = (
        Contract.objects.filter(status=Status.ACTIVE, end_date__lte=today)
        .order_by("end_date", "id")
        .values_list("pk", flat=True)
    )
    for pk in list(ending):
        with transaction.atomic(), _acting_as(None):
            locked = Contract.objects.select_for_update().get(pk=pk)
            if not _is_due_for_end(locked, today=today):
                continue
            _transition_locked(
                contract=locked,
                to_status=Status.ENDED,
                actor=None,
                actor_label=SYSTEM_BEAT,
                reason=_("End date passed"),
                now=now,
            )
            result.ended.append(locked.number)
    return result
