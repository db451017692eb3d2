"""Customer service-request pages, mounted at /my/requests/ (config/urls.py).

Each view scopes its lookups to the signed-in user's accounts (404 otherwise), makes one
service call and turns the service's exceptions into form errors.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.models import User
from apps.accounts.selectors import current_account
from apps.contracts import selectors as contract_selectors
from apps.core import clock
from apps.service_requests import selectors, services
from apps.service_requests.forms import (
    SLUG_BY_TYPE,
    TYPE_HINTS,
    TYPE_SLUGS,
    ReasonForm,
    ServiceRequestForm,
    SlotForm,
)
from apps.service_requests.models import (
    RequestType,
    ServiceDocument,
    ServiceRequest,
    ServiceRequestStatusChange,
)

Status = ServiceRequest.Status


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _add_error(form: forms.Form, exc: services.ServiceRequestError) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


def _request_for(request: HttpRequest, request_id: int) -> ServiceRequest:
    return selectors.service_request_for_user(_user(request), request_id)


@login_required
@require_GET
def request_list(request: HttpRequest) -> HttpResponse:
    account = current_account(_user(request), request.session)
    rows = selectors.service_requests_for_account(account) if account else []
    return render(
        request,
        "service_requests/list.html",
        {"account": account, "service_requests": rows, "now": clock.now()},
    )


@login_required
@require_GET
def request_new(request: HttpRequest) -> HttpResponse:
    account = current_account(_user(request), request.session)
    types = [
        {"slug": SLUG_BY_TYPE[value], "label": label, "hint": TYPE_HINTS[value]}
        for value, label in RequestType.choices
    ]
    return render(request, "service_requests/new.html", {"account": account, "types": types})


@login_required
@require_http_methods(["GET", "POST"])
def request_create(request: HttpRequest, type_slug: str) -> HttpResponse:
    request_type = TYPE_SLUGS.get(type_slug)
    if request_type is None:
        raise Http404("No such request type")
    user = _user(request)
    account = current_account(user, request.session)
    if account is None:
        return render(request, "service_requests/create.html", {"account": None, "form": None})
    now = clock.now()
    form = ServiceRequestForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        request_type=request_type,
        supply_points=contract_selectors.supply_points_for_account(account),
        today=clock.today(),
    )
    if request.method == "POST" and form.is_valid():
        try:
            created = services.service_request_submit(
                account=account, details=form.details(), actor=user, now=now
            )
        except services.ServiceRequestError as exc:
            _add_error(form, exc)
        else:
            messages.success(
                request,
                _("Thank you. Your request %(number)s is in; we will keep you posted here.")
                % {"number": created.number},
            )
            return redirect("service_requests:detail", request_id=created.pk)
    context: dict[str, Any] = {
        "account": account,
        "form": form,
        "request_type": request_type,
        "type_label": RequestType(request_type).label,
        "type_hint": TYPE_HINTS[request_type],
        "has_supply_points": "supply_point" not in form.fields
        or bool(form.supply_points)
        or request_type == RequestType.OTHER,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "service_requests/create.html", context, status=status)


def _detail_context(service_request: ServiceRequest, user: User) -> dict[str, Any]:
    now = clock.now()
    booked = selectors.booked_appointment(service_request)
    refusal = services.change_refusal(booked, now=now)
    return {
        "service_request": service_request,
        "timeline": _timeline_rows(service_request, user),
        "documents": selectors.documents_of(service_request),
        "booked": booked,
        "past_appointments": [
            a
            for a in selectors.appointments_of(service_request)
            if a.pk != getattr(booked, "pk", None)
        ],
        "can_book": service_request.status == Status.TRIAGED,
        "can_change_visit": booked is not None
        and service_request.status == Status.SCHEDULED
        and refusal is None,
        "change_refusal": refusal if service_request.status == Status.SCHEDULED else None,
        "can_cancel": service_request.status in services.CUSTOMER_CANCELLABLE and refusal is None,
        "viewer": user,
        "overdue": service_request.is_open and service_request.sla_due_at < now,
    }


@login_required
@require_GET
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    service_request = _request_for(request, request_id)
    return render(
        request, "service_requests/detail.html", _detail_context(service_request, _user(request))
    )


@login_required
@require_http_methods(["GET", "POST"])
def request_cancel(request: HttpRequest, request_id: int) -> HttpResponse:
    user = _user(request)
    service_request = _request_for(request, request_id)
    now = clock.now()
    form = ReasonForm(request.POST if request.method == "POST" else None)
    refusal = None
    if service_request.status not in services.CUSTOMER_CANCELLABLE:
        refusal = _("This request is “%(status)s” and can no longer be cancelled online.") % {
            "status": Status(service_request.status).label
        }
    else:
        refusal = services.change_refusal(selectors.booked_appointment(service_request), now=now)
    status = 200
    if request.method == "POST" and refusal is None and form.is_valid():
        try:
            services.service_request_cancel(
                service_request=service_request,
                actor=user,
                reason=form.cleaned_data["reason"],
                now=now,
            )
        except (services.ChangeTooLate, services.IllegalTransition) as exc:
            refusal = exc.message
        except services.ServiceRequestError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, _("Your request has been cancelled."))
            return redirect("service_requests:detail", request_id=service_request.pk)
    if request.method == "POST":
        status = 409 if refusal else 400
    return render(
        request,
        "service_requests/cancel.html",
        {"service_request": service_request, "form": form, "refusal": refusal},
        status=status,
    )


def _slot_days(service_request: ServiceRequest) -> list[selectors.SlotDay]:
    now = clock.now()
    zone = clock.local_zone()
    slots = services.available_slots(service_request=service_request, now=now)
    return selectors.slots_by_day(
        slots,
        zone,
        first_day=(now + services.BOOKING_LEAD).astimezone(zone).date(),
        last_day=now.astimezone(zone).date() + dt.timedelta(days=services.BOOKING_HORIZON_DAYS),
    )


def _who(change: ServiceRequestStatusChange, viewer: User) -> str:
    """How the timeline names who made a change, without exposing staff identities."""
    role = change.actor_role
    if role == ServiceRequestStatusChange.ActorRole.CUSTOMER:
        if change.actor_id == viewer.pk:
            return _("You")
        if change.actor is not None:
            return change.actor.get_full_name()
        return _("A member of your account")
    if role == ServiceRequestStatusChange.ActorRole.STAFF:
        return _("Our team")
    return _("Automatic update")


def _timeline_rows(service_request: ServiceRequest, viewer: User) -> list[dict[str, Any]]:
    return [
        {"change": change, "who": _who(change, viewer)}
        for change in selectors.timeline(service_request)
    ]


@login_required
@require_http_methods(["GET", "POST"])
def appointment_choose(request: HttpRequest, request_id: int) -> HttpResponse:
    """Book a visit (triaged request) or move the booked one (scheduled request)."""
    user = _user(request)
    service_request = _request_for(request, request_id)
    now = clock.now()
    booked = selectors.booked_appointment(service_request)
    refusal = None
    if service_request.status not in (Status.TRIAGED, Status.SCHEDULED):
        refusal = _("This request is “%(status)s”: a visit cannot be booked now.") % {
            "status": Status(service_request.status).label
        }
    elif booked is not None:
        refusal = services.change_refusal(booked, now=now)
    form = SlotForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and refusal is None and form.is_valid():
        try:
            appointment = services.appointment_book(
                service_request=service_request,
                starts_at=form.cleaned_data["slot"],
                actor=user,
                now=now,
            )
        except services.SlotTaken as exc:
            form.add_error("slot", exc.message)
            status = 409
        except (services.ChangeTooLate, services.BookingNotAllowed) as exc:
            refusal = exc.message
        except services.ServiceRequestError as exc:
            _add_error(form, exc)
        else:
            message = (
                _("Your visit is moved to %(when)s.")
                if booked
                else _("Your visit is booked for %(when)s.")
            )
            messages.success(request, message % {"when": services.when_text(appointment.starts_at)})
            return redirect("service_requests:detail", request_id=service_request.pk)
    if request.method == "POST" and status == 200:
        status = 409 if refusal else 400
    days = _slot_days(service_request) if refusal is None else []
    chosen = request.POST.get("slot", "") if status != 409 else ""
    return render(
        request,
        "service_requests/appointment.html",
        {
            "service_request": service_request,
            "booked": booked,
            "form": form,
            "days": days,
            "chosen": chosen,
            "refusal": refusal,
            "has_slots": any(day.slots for day in days),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def appointment_cancel(request: HttpRequest, request_id: int) -> HttpResponse:
    user = _user(request)
    service_request = _request_for(request, request_id)
    now = clock.now()
    booked = selectors.booked_appointment(service_request)
    refusal = None
    if booked is None or service_request.status != Status.SCHEDULED:
        refusal = _("This request has no booked visit to cancel.")
    else:
        refusal = services.change_refusal(booked, now=now)
    status = 200
    if request.method == "POST" and refusal is None:
        try:
            services.appointment_cancel(service_request=service_request, actor=user, now=now)
        except services.ServiceRequestError as exc:
            refusal = exc.message
        else:
            messages.success(
                request, _("Your visit is cancelled. Choose a new time when it suits you.")
            )
            return redirect("service_requests:detail", request_id=service_request.pk)
    if request.method == "POST":
        status = 409
    return render(
        request,
        "service_requests/appointment_cancel.html",
        {"service_request": service_request, "booked": booked, "refusal": refusal},
        status=status,
    )


def document_response(document: ServiceDocument) -> FileResponse:
    """Stream a stored document as a download with its checked content type."""
    try:
        handle = document.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing") from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=document.original_name,
        content_type=document.content_type,
    )
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@login_required
@require_GET
def document_download(request: HttpRequest, request_id: int, document_id: int) -> FileResponse:
    document = selectors.document_for_user(_user(request), request_id, document_id)
    return document_response(document)
