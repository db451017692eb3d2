"""Submitting a request: per-type rules, file checks, private storage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext as _

from apps.accounts.models import Account, User
from apps.accounts.selectors import membership_role
from apps.accounts.services import InvalidAddress, address_clean, address_create
from apps.contracts import selectors as contract_selectors
from apps.core import clock
from apps.metering.models import SupplyPoint
from apps.service_requests import uploads
from apps.service_requests.models import (
    RequestType,
    ServiceDocument,
    ServiceRequest,
    ServiceRequestStatusChange,
)
from apps.service_requests.services._common import (
    acting_as,
    next_number,
    sla_due_at,
)
from apps.service_requests.services._errors import (
    InvalidRequestDetails,
    InvalidUpload,
    NotAMember,
)
from apps.service_requests.services._rules import (
    DESIRED_DATE_HORIZON_DAYS,
    DISCONNECTION_NOTICE_DAYS,
    MAX_CAPACITY_KW,
    MAX_DESCRIPTION,
    MIN_CAPACITY_KW,
    MIN_FAULT_DESCRIPTION,
    MOTIVES_BY_TYPE,
    NEW_CONNECTION_NOTICE_DAYS,
)
from apps.service_requests.services._workflow import status_change_notify

Status = ServiceRequest.Status
ActorRole = ServiceRequestStatusChange.ActorRole

# --------------------------------------------------------------------------------------------
# Submitting a request
# --------------------------------------------------------------------------------------------


#: What the service needs of an uploaded file: a name, a size, read and seek.
Upload = File


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    upload: Upload
    name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class NewAddress:
    line1: str
    postcode: str
    city: str
    line2: str = ""


@dataclass(frozen=True)
class RequestDetails:
    """What the customer filled in. Which fields apply depends on ``request_type``."""

    request_type: str
    supply_point: SupplyPoint | None = None
    address: NewAddress | None = None
    requested_capacity_kw: Decimal | None = None
    desired_date: dt.date | None = None
    motive: str = ""
    description: str = ""
    documents: Sequence[Upload] = field(default_factory=tuple)
    photos: Sequence[Upload] = field(default_factory=tuple)


def _one_of(names: list[str]) -> str:
    """``PDF, PNG or JPEG``."""
    if len(names) == 1:
        return names[0]
    return _("%(first)s or %(last)s") % {"first": ", ".join(names[:-1]), "last": names[-1]}


def upload_check(
    files: Sequence[Upload], *, field: str, allowed: Sequence[str]
) -> list[CheckedUpload]:
    """Check each file's real type (magic bytes), extension and size.

    Raises:
        InvalidUpload: naming ``field``, the file and what to do, for the first bad file.
    """
    kinds = _one_of([uploads.TYPE_NAMES[t] for t in allowed])
    if len(files) > uploads.MAX_FILES_PER_FIELD:
        raise InvalidUpload(
            _("Upload at most %(count)d files here; you chose %(chosen)d.")
            % {"count": uploads.MAX_FILES_PER_FIELD, "chosen": len(files)},
            field=field,
        )
    checked = []
    for upload in files:
        name = uploads.safe_name(upload.name or "")
        size = int(upload.size or 0)
        if size == 0:
            raise InvalidUpload(
                _("“%(name)s” is empty. Choose the file again.") % {"name": name}, field=field
            )
        if size > uploads.MAX_UPLOAD_BYTES:
            raise InvalidUpload(
                _(
                    "“%(name)s” is %(size)s; files can be at most %(limit)s. Scan at a lower "
                    "resolution or split the document."
                )
                % {
                    "name": name,
                    "size": uploads.display_size(size),
                    "limit": uploads.display_size(uploads.MAX_UPLOAD_BYTES),
                },
                field=field,
            )
        upload.seek(0)
        head = upload.read(uploads.SNIFF_BYTES)
        upload.seek(0)
        content_type = uploads.sniff(head)
        claimed = uploads.type_for_name(name)
        if content_type is None or claimed is None or not {content_type, claimed} <= set(allowed):
            raise InvalidUpload(
                _("“%(name)s” is not a %(kinds)s file. Upload a %(kinds)s file instead.")
                % {"name": name, "kinds": kinds},
                field=field,
            )
        if claimed != content_type:
            raise InvalidUpload(
                _(
                    "“%(name)s” is named like a %(claimed)s file but its content is %(real)s. "
                    "Save it again with the right extension."
                )
                % {
                    "name": name,
                    "claimed": uploads.TYPE_NAMES[claimed],
                    "real": uploads.TYPE_NAMES[content_type],
                },
                field=field,
            )
        checked.append(
            CheckedUpload(upload=upload, name=name, content_type=content_type, size=size)
        )
    return checked


#: The shortest description accepted per type (0: optional).
DESCRIPTION_MINIMUM: Final[dict[str, int]] = {
    RequestType.REPAIR: MIN_FAULT_DESCRIPTION,
    RequestType.MAINTENANCE: 10,
    RequestType.OTHER: 10,
}


def description_error(request_type: str, value: str) -> str | None:
    """What is wrong with ``value`` as the description of a ``request_type`` request, if any."""
    text = value.strip()
    minimum = DESCRIPTION_MINIMUM.get(request_type, 0)
    if len(text) < minimum:
        if request_type == RequestType.REPAIR:
            return _(
                "Describe the fault in at least %(count)d characters: what happens, since "
                "when, and whether anything is unsafe."
            ) % {"count": minimum}
        return _("Tell us in at least %(count)d characters what you need.") % {"count": minimum}
    if len(text) > MAX_DESCRIPTION:
        return _("Use at most %(count)d characters (you wrote %(length)d).") % {
            "count": MAX_DESCRIPTION,
            "length": len(text),
        }
    return None


#: Types that ask for a desired date: days of notice from today, and whether it is required.
DESIRED_DATE_RULES: Final[dict[str, tuple[int, bool]]] = {
    RequestType.NEW_CONNECTION: (NEW_CONNECTION_NOTICE_DAYS, True),
    RequestType.DISCONNECTION: (DISCONNECTION_NOTICE_DAYS, True),
    RequestType.RECONNECTION: (1, False),
}


def desired_date_bounds(request_type: str, *, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The first and last desired date accepted for ``request_type`` (None: no date asked)."""
    rule = DESIRED_DATE_RULES.get(request_type)
    if rule is None:
        return None
    return today + dt.timedelta(days=rule[0]), today + dt.timedelta(days=DESIRED_DATE_HORIZON_DAYS)


def desired_date_error(request_type: str, value: dt.date | None, *, today: dt.date) -> str | None:
    """What is wrong with ``value`` as the desired date of a ``request_type`` request, if any."""
    bounds = desired_date_bounds(request_type, today=today)
    if bounds is None:
        return None
    if value is None:
        if DESIRED_DATE_RULES[request_type][1]:
            return _("Enter the date you would like the work done.")
        return None
    earliest, latest = bounds
    if not earliest <= value <= latest:
        return _("Choose a date from %(earliest)s to %(latest)s.") % {
            "earliest": earliest.isoformat(),
            "latest": latest.isoformat(),
        }
    return None


def _clean_details(
    details: RequestDetails, *, account: Account, today: dt.date
) -> tuple[RequestDetails, list[CheckedUpload], list[CheckedUpload]]:
    kind = details.request_type
    if kind not in RequestType.values:
        raise InvalidRequestDetails(
            _("Choose one of the request types on the list."), field="request_type"
        )
    supply_point = details.supply_point
    if kind == RequestType.NEW_CONNECTION:
        supply_point = None
    elif supply_point is None and kind != RequestType.OTHER:
        raise InvalidRequestDetails(
            _("Choose the supply point the request is about."), field="supply_point"
        )
    if supply_point is not None:
        own = {sp.pk for sp in contract_selectors.supply_points_for_account(account)}
        if supply_point.pk not in own:
            raise InvalidRequestDetails(
                _("Choose one of your own supply points from the list."), field="supply_point"
            )
    capacity = None
    address = None
    desired = None
    if kind == RequestType.NEW_CONNECTION:
        if details.address is None:
            raise InvalidRequestDetails(
                _("Enter the street and number of the new connection."), field="line1"
            )
        try:
            clean_address = address_clean(
                line1=details.address.line1,
                line2=details.address.line2,
                postcode=details.address.postcode,
                city=details.address.city,
            )
        except InvalidAddress as exc:
            raise InvalidRequestDetails(exc.message, field=exc.field) from None
        address = NewAddress(
            line1=clean_address.line1,
            line2=clean_address.line2,
            postcode=clean_address.postcode,
            city=clean_address.city,
        )
        capacity = details.requested_capacity_kw
        if capacity is None or not MIN_CAPACITY_KW <= capacity <= MAX_CAPACITY_KW:
            raise InvalidRequestDetails(
                _(
                    "Enter the capacity you need in kW, from %(low)s to %(high)s (for example "
                    "5.75). For more than %(high)s kW please call our business team."
                )
                % {"low": MIN_CAPACITY_KW, "high": MAX_CAPACITY_KW},
                field="requested_capacity_kw",
            )
        if capacity != capacity.quantize(Decimal("0.001")):
            raise InvalidRequestDetails(
                _("Enter the capacity with at most three decimals (for example 5.75)."),
                field="requested_capacity_kw",
            )
    if kind in DESIRED_DATE_RULES:
        problem = desired_date_error(kind, details.desired_date, today=today)
        if problem:
            raise InvalidRequestDetails(problem, field="desired_date")
        desired = details.desired_date
    motive = details.motive.strip()
    if kind in MOTIVES_BY_TYPE:
        if motive not in MOTIVES_BY_TYPE[kind]:
            raise InvalidRequestDetails(_("Choose the reason from the list."), field="motive")
    else:
        motive = ""
    problem = description_error(kind, details.description)
    if problem:
        raise InvalidRequestDetails(problem, field="description")
    description = details.description.strip()
    documents: list[CheckedUpload] = []
    photos: list[CheckedUpload] = []
    if kind == RequestType.NEW_CONNECTION:
        if not details.documents:
            raise InvalidUpload(
                _(
                    "Attach at least one document, for example the electrical installation "
                    "certificate or the building permit (PDF, PNG or JPEG)."
                ),
                field="documents",
            )
        documents = upload_check(
            details.documents, field="documents", allowed=(uploads.PDF, uploads.PNG, uploads.JPEG)
        )
    if kind == RequestType.REPAIR:
        photos = upload_check(details.photos, field="photos", allowed=(uploads.PNG, uploads.JPEG))
    cleaned = RequestDetails(
        request_type=kind,
        supply_point=supply_point,
        address=address,
        requested_capacity_kw=capacity,
        desired_date=desired,
        motive=motive,
        description=description,
    )
    return cleaned, documents, photos


def _store_document(
    *,
    service_request: ServiceRequest,
    checked: CheckedUpload,
    kind: str,
    actor: User | None,
    now: dt.datetime,
    stored: list[str],
) -> ServiceDocument:
    """Write the file under MEDIA_ROOT with a random name and record it (``stored`` collects
    the names so the caller can delete them if the transaction fails)."""
    document = ServiceDocument(
        service_request=service_request,
        kind=kind,
        original_name=checked.name,
        content_type=checked.content_type,
        size_bytes=checked.size,
        uploaded_by=actor,
        uploaded_at=now,
    )
    suffix = uploads.EXTENSIONS[checked.content_type][0]
    checked.upload.seek(0)
    document.file.save(f"upload{suffix}", checked.upload, save=False)
    stored.append(document.file.name or "")
    document.save()
    return document


def service_request_submit(
    *, account: Account, details: RequestDetails, actor: User, now: dt.datetime
) -> ServiceRequest:
    """Store a new request of ``account`` with its files, log SUBMITTED and notify the members.

    The SLA due time is fixed at submission (decision 0603).

    Raises:
        NotAMember: ``actor`` does not act for ``account``.
        InvalidRequestDetails: a missing or unacceptable detail (``field`` names it).
        InvalidUpload: a file of the wrong type, too large or empty.
    Nothing is stored when it raises.
    """
    if membership_role(actor, account) is None:
        raise NotAMember(_("You cannot make requests for this account."))
    today = now.astimezone(clock.local_zone()).date()
    cleaned, documents, photos = _clean_details(details, account=account, today=today)
    stored: list[str] = []
    try:
        with transaction.atomic(), acting_as(actor):
            service_request = _submit_locked(
                account=account,
                cleaned=cleaned,
                documents=documents,
                photos=photos,
                actor=actor,
                now=now,
                stored=stored,
            )
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    return service_request


def _submit_locked(
    *,
    account: Account,
    cleaned: RequestDetails,
    documents: list[CheckedUpload],
    photos: list[CheckedUpload],
    actor: User,
    now: dt.datetime,
    stored: list[str],
) -> ServiceRequest:
    address = None
    if cleaned.address is not None:
        address = address_create(
            line1=cleaned.address.line1,
            line2=cleaned.address.line2,
            postcode=cleaned.address.postcode,
            city=cleaned.address.city,
            actor=actor,
        )
    service_request = ServiceRequest.objects.create(
        number=next_number(),
        account=account,
        request_type=cleaned.request_type,
        supply_point=cleaned.supply_point,
        address=address,
        requested_capacity_kw=cleaned.requested_capacity_kw,
        desired_date=cleaned.desired_date,
        motive=cleaned.motive,
        description=cleaned.description,
        submitted_by=actor,
        submitted_at=now,
        sla_due_at=sla_due_at(request_type=cleaned.request_type, submitted_at=now),
    )
    for checked in documents:
        _store_document(
            service_request=service_request,
            checked=checked,
            kind=ServiceDocument.Kind.DOCUMENT,
            actor=actor,
            now=now,
            stored=stored,
        )
    for checked in photos:
        _store_document(
            service_request=service_request,
            checked=checked,
            kind=ServiceDocument.Kind.PHOTO,
            actor=actor,
            now=now,
            stored=stored,
        )
    change = ServiceRequestStatusChange.objects.create(
        service_request=service_request,
        from_status="",
        to_status=Status.SUBMITTED,
        changed_at=now,
        actor=actor,
        actor_role=ActorRole.CUSTOMER,
    )
    status_change_notify(change=change)
    return service_request
