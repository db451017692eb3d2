"""Outage pages: customers at /outages/, operations staff at /staff/outages/.

Customer lookups are scoped to the signed-in user's accounts (404 otherwise).
Staff pages need staff status, the second factor given in this session and
``outages.view_outage`` (posting needs ``outages.change_outage``). Each view
reads through selectors or makes one service call and turns its exceptions into
form errors.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Account, User
from apps.accounts.selectors import current_account
from apps.core import clock
from apps.core.staff import staff_verified_required
from apps.outages import reliability, selectors, services
from apps.outages.forms import (
    PlannedOutageForm,
    ReliabilityForm,
    ReportForm,
    RestoreForm,
    TransitionForm,
    UpdateForm,
)
from apps.outages.models import Outage

VIEW_PERMISSION = "outages.view_outage"
CHANGE_PERMISSION = "outages.change_outage"
POLL_SECONDS = 60

View = Callable[..., HttpResponse]


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _add_error(form: forms.Form, exc: services.OutageError) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, str(exc))


# -- customers -------------------------------------------------------------------------------


def _customer_context(request: HttpRequest, account: Account | None) -> dict[str, Any]:
    now = clock.now()
    statuses = selectors.premise_statuses(account, now=now) if account else []
    return {
        "account": account,
        "statuses": statuses,
        "any_affected": any(s.affected for s in statuses),
        "checked_at": now,
        "poll_seconds": POLL_SECONDS,
    }


@login_required
@require_GET
def customer_outages(request: HttpRequest) -> HttpResponse:
    """Whether a known outage affects the customer's addresses, and a form to report one."""
    account = current_account(_user(request), request.session)
    context = _customer_context(request, account)
    supply_points = [s.supply_point for s in context["statuses"]]
    context["form"] = ReportForm(supply_points=supply_points) if supply_points else None
    context["reports"] = selectors.reports_for_account(account) if account else []
    return render(request, "outages/customer.html", context)


@login_required
@require_GET
def customer_status_fragment(request: HttpRequest) -> HttpResponse:
    """The status section alone, for the page's htmx refresh."""
    account = current_account(_user(request), request.session)
    return render(request, "outages/_status.html", _customer_context(request, account))


@login_required
@require_POST
def customer_report(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    account = current_account(user, request.session)
    if account is None:
        return redirect("outages:home")
    supply_points = selectors.customer_supply_points(account)
    form = ReportForm(request.POST, supply_points=supply_points)
    if form.is_valid():
        try:
            result = services.outage_report_create(
                user=user,
                account=account,
                supply_point_id=form.cleaned_data["supply_point"],
                description=form.cleaned_data["description"],
                now=clock.now(),
            )
        except services.OutageError as exc:
            _add_error(form, exc)
        else:
            if result.created:
                messages.success(request, _("Thank you: we have your report."))
            else:
                messages.info(request, _("You had already reported this; we are on it."))
            if result.report.account_id == account.pk:
                return redirect("outages:report", report_id=result.report.pk)
            return redirect("outages:home")
    context = _customer_context(request, account)
    context["form"] = form
    context["reports"] = selectors.reports_for_account(account)
    return render(request, "outages/customer.html", context, status=400)


@login_required
@require_GET
def customer_outage_detail(request: HttpRequest, outage_id: int) -> HttpResponse:
    outage = selectors.outage_for_user(_user(request), outage_id)
    if outage.status == Outage.Status.MERGED and outage.merged_into_id:
        return redirect("outages:detail", outage_id=outage.merged_into_id)
    return render(
        request,
        "outages/outage_detail.html",
        {"outage": outage, "timeline": selectors.public_timeline(outage)},
    )


@login_required
@require_GET
def customer_report_detail(request: HttpRequest, report_id: int) -> HttpResponse:
    report = selectors.report_for_user(_user(request), report_id)
    outage = report.outage
    while outage.status == Outage.Status.MERGED and outage.merged_into is not None:
        outage = outage.merged_into
    return render(
        request,
        "outages/report_detail.html",
        {"report": report, "outage": outage, "timeline": selectors.public_timeline(outage)},
    )


# -- staff -----------------------------------------------------------------------------------


def _dashboard_context() -> dict[str, Any]:
    now = clock.now()
    silent_count, silent = selectors.silent_supply_points(now=now)
    return {
        "outages": selectors.current_outages(now=now),
        "silent_count": silent_count,
        "silent": silent,
        "now": now,
        "poll_seconds": POLL_SECONDS,
    }


@staff_verified_required(VIEW_PERMISSION)
@require_GET
def staff_dashboard(request: HttpRequest) -> HttpResponse:
    context = _dashboard_context()
    context["can_change"] = request.user.has_perm(CHANGE_PERMISSION)
    return render(request, "outages/staff/dashboard.html", context)


@staff_verified_required(VIEW_PERMISSION)
@require_GET
def staff_dashboard_fragment(request: HttpRequest) -> HttpResponse:
    return render(request, "outages/staff/_current.html", _dashboard_context())


def _staff_detail_context(request: HttpRequest, outage: Outage, **forms_: Any) -> dict[str, Any]:
    return {
        "outage": outage,
        "counts": selectors.outage_point_counts(outage),
        "points": selectors.outage_points(outage),
        "reports": selectors.outage_reports(outage),
        "timeline": selectors.public_timeline(outage),
        "can_change": request.user.has_perm(CHANGE_PERMISSION),
        "update_form": forms_.get("update_form")
        or UpdateForm(initial={"cause": outage.cause, "crew": outage.crew}),
        "restore_form": forms_.get("restore_form") or RestoreForm(),
        "transition_form": forms_.get("transition_form") or TransitionForm(),
        "now": clock.now(),
    }


@staff_verified_required(VIEW_PERMISSION)
@require_GET
def staff_outage_detail(request: HttpRequest, outage_id: int) -> HttpResponse:
    outage = selectors.outage_for_staff(outage_id)
    return render(
        request, "outages/staff/outage_detail.html", _staff_detail_context(request, outage)
    )


@staff_verified_required(CHANGE_PERMISSION)
@require_POST
def staff_post_update(request: HttpRequest, outage_id: int) -> HttpResponse:
    outage = selectors.outage_for_staff(outage_id)
    form = UpdateForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.outage_post_update(
                outage_id=outage.pk,
                actor=_user(request),
                now=clock.now(),
                note=data["note"],
                cause=data["cause"],
                crew=data["crew"] if "crew" in request.POST else None,
                estimated_restoration_at=data["estimated_restoration_at"],
            )
        except services.OutageError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, _("Update posted."))
            return redirect("outages_staff:detail", outage_id=outage.pk)
    context = _staff_detail_context(request, outage, update_form=form)
    return render(request, "outages/staff/outage_detail.html", context, status=400)


@staff_verified_required(CHANGE_PERMISSION)
@require_POST
def staff_restore(request: HttpRequest, outage_id: int) -> HttpResponse:
    outage = selectors.outage_for_staff(outage_id)
    form = RestoreForm(request.POST)
    if form.is_valid():
        try:
            services.outage_transition(
                outage_id=outage.pk,
                to_status=Outage.Status.RESTORED,
                actor=_user(request),
                now=clock.now(),
                note=form.cleaned_data["note"],
                at=form.cleaned_data["at"],
            )
        except services.OutageError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, _("Outage marked restored."))
            return redirect("outages_staff:detail", outage_id=outage.pk)
    context = _staff_detail_context(request, outage, restore_form=form)
    return render(request, "outages/staff/outage_detail.html", context, status=400)


@staff_verified_required(CHANGE_PERMISSION)
@require_POST
def staff_transition(request: HttpRequest, outage_id: int) -> HttpResponse:
    outage = selectors.outage_for_staff(outage_id)
    form = TransitionForm(request.POST)
    if form.is_valid():
        try:
            services.outage_transition(
                outage_id=outage.pk,
                to_status=form.cleaned_data["to_status"],
                actor=_user(request),
                now=clock.now(),
                note=form.cleaned_data["note"],
            )
        except services.OutageError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, _("Status changed."))
            return redirect("outages_staff:detail", outage_id=outage.pk)
    context = _staff_detail_context(request, outage, transition_form=form)
    return render(request, "outages/staff/outage_detail.html", context, status=400)


@staff_verified_required(CHANGE_PERMISSION)
def staff_planned_new(request: HttpRequest) -> HttpResponse:
    form = PlannedOutageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        level, node_id = form.node_parts()
        try:
            outage = services.planned_outage_create(
                level=level,
                node_id=node_id,
                starts_at=form.cleaned_data["starts_at"],
                ends_at=form.cleaned_data["ends_at"],
                description=form.cleaned_data["description"],
                actor=_user(request),
                now=clock.now(),
            )
        except services.OutageError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, _("Planned outage scheduled; customers will be told."))
            return redirect("outages_staff:detail", outage_id=outage.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "outages/staff/planned_form.html", {"form": form}, status=status)


def _reliability_query(
    request: HttpRequest,
) -> tuple[ReliabilityForm, reliability.ReliabilityReport | None, selectors.Area | None]:
    area_list = selectors.areas()
    choices = [(a.key, a.label or _("Whole network")) for a in area_list]
    today = clock.today()
    defaults = {
        "start": today.replace(month=1, day=1).isoformat(),
        "end": today.isoformat(),
        "area": selectors.ALL_AREAS,
        "include_planned": "on",
    }
    form = ReliabilityForm(request.GET if "start" in request.GET else defaults, areas=choices)
    if not form.is_valid():
        return form, None, None
    area = next(a for a in area_list if a.key == form.cleaned_data["area"])
    report = services.reliability_for(
        area=area,
        period_start=form.cleaned_data["start"],
        period_end=form.cleaned_data["end"] + dt.timedelta(days=1),
        as_of=clock.now(),
        include_planned=form.cleaned_data["include_planned"],
    )
    return form, report, area


@staff_verified_required(VIEW_PERMISSION)
@require_GET
def staff_reliability(request: HttpRequest) -> HttpResponse:
    form, report, area = _reliability_query(request)
    status = 400 if form.errors else 200
    csv_url = f"{reverse('outages_staff:reliability_csv')}?{urlencode(form.data)}"
    return render(
        request,
        "outages/staff/reliability.html",
        {
            "form": form,
            "report": report,
            "area": area,
            "csv_url": csv_url,
            "rounded_threshold": _rounded_threshold(report),
        },
        status=status,
    )


def _rounded_threshold(report: reliability.ReliabilityReport | None) -> dict[str, Any] | None:
    if report is None or report.threshold is None:
        return None
    threshold = report.threshold
    return {
        "alpha": reliability.rounded(threshold.alpha),
        "beta": reliability.rounded(threshold.beta),
        "t_med": reliability.rounded(threshold.t_med),
        "days_used": threshold.days_used,
    }


@staff_verified_required(VIEW_PERMISSION)
@require_GET
def staff_reliability_csv(request: HttpRequest) -> HttpResponse:
    form, report, area = _reliability_query(request)
    if not form.is_valid():
        return HttpResponse(
            "\n".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items()),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    assert area is not None
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"reliability-{area.key.replace(':', '-')}-{start.isoformat()}-{end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "area",
            "period_start",
            "period_end",
            "scope",
            "customers_served",
            "sustained_customer_interruptions",
            "customer_minutes",
            "momentary_customer_interruptions",
            "saidi_minutes",
            "saifi",
            "caidi_minutes",
            "maifi",
        ]
    )
    label = area.label or "Whole network"
    if report is None:
        return response
    for scope, values in (
        ("all_days", report.all_days),
        ("excluding_major_event_days", report.normal_days),
        ("major_event_days", report.major_events),
    ):
        writer.writerow(
            [
                label,
                start.isoformat(),
                end.isoformat(),
                scope,
                values.customers_served,
                values.customer_interruptions,
                values.customer_minutes,
                values.momentary_interruptions,
                values.saidi,
                values.saifi,
                "" if values.caidi is None else values.caidi,
                values.maifi,
            ]
        )
    threshold = _rounded_threshold(report)
    writer.writerow([])
    writer.writerow(["t_med_minutes", "alpha", "beta", "history_days_used", "history_start"])
    writer.writerow(
        [
            threshold["t_med"] if threshold else "",
            threshold["alpha"] if threshold else "",
            threshold["beta"] if threshold else "",
            threshold["days_used"] if threshold else 0,
            report.history_start.isoformat(),
        ]
    )
    writer.writerow([])
    writer.writerow(["major_event_day", "saidi_minutes"])
    for day in report.major_event_days:
        writer.writerow([day.day.isoformat(), day.saidi])
    return response
