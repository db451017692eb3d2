"""Plain builders for service-request tests: accounts with supply points, crews, requests."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts.models import Account, Address, Customer, Membership, User
from apps.contracts.models import Contract
from apps.metering.identifiers import make_cups
from apps.metering.models import Premise, SupplyPoint
from apps.service_requests import services
from apps.service_requests.models import (
    Appointment,
    Crew,
    CrewShift,
    RequestType,
    ServiceRequest,
    ServiceRequestStatusChange,
)
from apps.tariffs.models import Tariff

MADRID = ZoneInfo("Europe/Madrid")
_serials = itertools.count(1)

PDF_BYTES = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64


def madrid(*args: int) -> dt.datetime:
    """An aware Europe/Madrid datetime (year, month, day[, hour, minute])."""
    return dt.datetime(*args, tzinfo=MADRID)  # type: ignore[misc]


def pdf(name: str = "certificate.pdf", content: bytes = PDF_BYTES) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def png(name: str = "fault.png", content: bytes = PNG_BYTES) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="image/png")


def jpeg(name: str = "fault.jpg", content: bytes = JPEG_BYTES) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="image/jpeg")


def make_account(
    user: User | None, *, name: str = "Ana García", extra: Iterable[User] = ()
) -> Account:
    serial = next(_serials)
    customer = Customer.objects.create(name=name, email=f"c{serial}@customer.example.com")
    address = Address.objects.create(line1="Calle Mayor 1", postcode="28013", city="Madrid")
    account = Account.objects.create(
        number=f"T{serial:08d}", customer=customer, billing_address=address
    )
    for member in [user, *extra]:
        if member is not None:
            Membership.objects.create(user=member, account=account, role=Membership.Role.OWNER)
    return account


def make_supply_point(account: Account, *, postcode: str = "28013") -> SupplyPoint:
    """A supply point at ``postcode`` with an active contract of ``account``."""
    address = Address.objects.create(line1="Calle del Sol 7", postcode=postcode, city="Madrid")
    premise = Premise.objects.create(address=address)
    supply_point = SupplyPoint.objects.create(
        external_id=make_cups(21, next(_serials)), premise=premise
    )
    tariff, _ = Tariff.objects.get_or_create(code="sr-flat", defaults={"name": "Flat"})
    Contract.objects.create(
        number=f"C-SR{next(_serials):06d}",
        account=account,
        supply_point=supply_point,
        tariff=tariff,
        start_date=dt.date(2025, 1, 1),
        status=Contract.Status.ACTIVE,
    )
    return supply_point


def make_crew(
    name: str = "Crew North",
    *,
    skills: Iterable[str] = RequestType.values,
    prefixes: Iterable[str] = ("28",),
    shifts: Iterable[tuple[int, dt.time, dt.time]] | None = None,
    is_active: bool = True,
) -> Crew:
    """A crew; by default working Monday to Friday 08:00–18:00 local."""
    crew = Crew.objects.create(
        name=name, skills=list(skills), postcode_prefixes=list(prefixes), is_active=is_active
    )
    if shifts is None:
        shifts = [(day, dt.time(8), dt.time(18)) for day in range(5)]
    for weekday, start, end in shifts:
        CrewShift.objects.create(crew=crew, weekday=weekday, start_time=start, end_time=end)
    return crew


def submit(
    user: User,
    account: Account,
    *,
    supply_point: SupplyPoint | None,
    request_type: str = RequestType.REPAIR,
    now: dt.datetime,
    description: str = "The socket in the kitchen sparks when I plug anything in.",
    photos: Iterable[SimpleUploadedFile] = (),
) -> ServiceRequest:
    return services.service_request_submit(
        account=account,
        details=services.RequestDetails(
            request_type=request_type,
            supply_point=supply_point,
            description=description,
            photos=list(photos),
        ),
        actor=user,
        now=now,
    )


def triaged(
    user: User,
    account: Account,
    *,
    supply_point: SupplyPoint,
    now: dt.datetime,
    staff: User | None = None,
    photos: Iterable[SimpleUploadedFile] = (),
) -> ServiceRequest:
    """A repair request submitted by ``user`` and triaged by staff."""
    service_request = submit(user, account, supply_point=supply_point, now=now, photos=photos)
    services.service_request_transition(
        service_request=service_request,
        to_status=ServiceRequest.Status.TRIAGED,
        actor=staff,
        actor_role=ServiceRequestStatusChange.ActorRole.STAFF,
        now=now,
    )
    service_request.refresh_from_db()
    return service_request


def scheduled(
    user: User,
    account: Account,
    *,
    supply_point: SupplyPoint,
    starts_at: dt.datetime,
    now: dt.datetime,
    photos: Iterable[SimpleUploadedFile] = (),
) -> tuple[ServiceRequest, Appointment]:
    service_request = triaged(user, account, supply_point=supply_point, now=now, photos=photos)
    appointment = services.appointment_book(
        service_request=service_request, starts_at=starts_at, actor=user, now=now
    )
    service_request.refresh_from_db()
    return service_request, appointment
