from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, object]:
    from apps.core.notifications import unread_count

    user = getattr(request, "user", None)
    return {
        "SITE_NAME": settings.SITE_NAME,
        "ADMIN_URL": "/" + settings.ADMIN_URL,
        "UNREAD_NOTIFICATIONS": unread_count(user) if user is not None else 0,
    }
