from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core.notifications import notifications_for


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    items = list(notifications_for(request.user)[:100])
    return render(request, "portal/notifications.html", {"notifications": items})
