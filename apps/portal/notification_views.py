"""The notification centre: the signed-in person's own notifications, unread first.

Everything is scoped to ``request.user``: another person's notification is a 404
and nothing changes. Marking read is a POST (a plain form without JavaScript;
htmx swaps just the item and tells the unread counter to refresh).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Value, When
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core.notifications import notification_mark_read, notifications_for, unread_count
from apps.portal.alert_views import held_supply_points

PAGE_SIZE = 25
CHANGED_EVENT = "notificationsChanged"


def _unread_first(user: object):  # type: ignore[no-untyped-def]
    return notifications_for(user).order_by(
        Case(
            When(read_at__isnull=True, then=Value(0)), default=Value(1), output_field=IntegerField()
        ),
        "-created_at",
        "-id",
    )


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(_unread_first(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "notifications": list(page.object_list),
        "unread": unread_count(request.user),
        "supply_points": held_supply_points(request.user),  # type: ignore[arg-type]
    }
    return render(request, "portal/notifications.html", context)


@login_required
@require_GET
def notification_unread_count(request: HttpRequest) -> HttpResponse:
    """The unread counter as a small fragment (htmx polls it)."""
    return render(
        request, "portal/alerts/_unread_count.html", {"unread": unread_count(request.user)}
    )


def _changed(response: HttpResponse) -> HttpResponse:
    response["HX-Trigger"] = CHANGED_EVENT
    return response


@login_required
@require_POST
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark one of the user's notifications read (404 for anyone else's)."""
    own = notifications_for(request.user)
    if not own.filter(pk=notification_id).exists():
        raise Http404("No such notification")
    notification_mark_read(user=request.user, notification_id=notification_id)
    if request.htmx:  # type: ignore[attr-defined]
        item = own.get(pk=notification_id)
        return _changed(render(request, "portal/alerts/_notification.html", {"n": item}))
    return HttpResponseRedirect(reverse("notification_list"))


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    notification_mark_read(user=request.user)
    return HttpResponseRedirect(reverse("notification_list"))
