"""Notifications: in-app (the notification centre) and email, sent once per event.

Email goes through Django's email backend, which is the adapter: SMTP in
production (``EMAIL_URL``), console in development, in-memory in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from apps.core import clock
from apps.core.models import Notification


@dataclass(frozen=True, slots=True)
class Sent:
    notification: Notification
    created: bool


def notification_send(
    *,
    user: Any,
    kind: str,
    title: str,
    body: str = "",
    url: str = "",
    dedupe_key: str,
    email: bool = True,
) -> Sent:
    """Notify ``user`` once per ``dedupe_key``; email after commit when ``email`` is set.

    Re-sending with the same key returns the existing notification and sends nothing.
    """
    existing = Notification.objects.filter(user=user, dedupe_key=dedupe_key).first()
    if existing is not None:
        return Sent(existing, False)
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                user=user,
                kind=kind,
                title=title[:200],
                body=body,
                url=url[:300],
                dedupe_key=dedupe_key[:200],
                created_at=clock.now(),
            )
    except IntegrityError:  # a concurrent sender won the race
        return Sent(Notification.objects.get(user=user, dedupe_key=dedupe_key[:200]), False)
    address: str | None = getattr(user, "email", None)
    if email and address:
        transaction.on_commit(lambda: _email(notification.pk))
    return Sent(notification, True)


def _email(notification_id: int) -> None:
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    if notification.emailed_at is not None:
        return
    link = ""
    if notification.url:
        base = str(settings.WATTLINE_PUBLIC_URL).rstrip("/")
        link = f"\n\n{base}{notification.url}"
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{notification.title}",
        message=f"{notification.body}{link}",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[notification.user.email],
        fail_silently=False,
    )
    Notification.objects.filter(pk=notification_id, emailed_at__isnull=True).update(
        emailed_at=clock.now()
    )


def notifications_for(user: Any) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def unread_count(user: Any) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_mark_read(*, user: Any, notification_id: int | None = None) -> int:
    """Mark one (or, without an id, all) of ``user``'s notifications read. Returns how many."""
    rows = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_id is not None:
        rows = rows.filter(pk=notification_id)
    return rows.update(read_at=clock.now())
