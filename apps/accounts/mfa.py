"""Second factor (TOTP with single-use backup codes) on django-otp devices.

These are the use cases; views only translate ``InvalidToken`` into a form error.
"""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import transaction
from django_otp import devices_for_user, match_token
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import User

TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"


class InvalidToken(Exception):
    """The code is wrong, expired, already used, or the device is throttled."""


def mfa_is_enabled(*, user: User) -> bool:
    return any(True for _ in devices_for_user(user, confirmed=True))


def mfa_pending_totp_device(*, user: User) -> TOTPDevice:
    """The unconfirmed authenticator being set up (created once, reused on reload)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def totp_qr_svg(device: TOTPDevice) -> str:
    """The device's provisioning URI as an inline SVG QR code."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :]


def totp_secret_for_display(device: TOTPDevice) -> str:
    """The base32 secret in groups of four, for typing into an app by hand."""
    import base64

    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@transaction.atomic
def mfa_confirm_totp(*, user: User, token: str) -> list[str]:
    """Confirm the pending authenticator with a code from it.

    Returns freshly generated backup codes (shown to the user once). Raises
    ``InvalidToken`` if the code does not match.
    """
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(user=user, confirmed=False)
        .order_by("id")
        .first()
    )
    if device is None or not device.verify_token(token.strip().replace(" ", "")):
        raise InvalidToken
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return mfa_regenerate_backup_codes(user=user)


@transaction.atomic
def mfa_regenerate_backup_codes(*, user: User) -> list[str]:
    """Replace the user's backup codes with new single-use ones and return them."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(settings.WATTLINE_BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def mfa_verify(*, user: User, token: str) -> Device:
    """Check a TOTP or backup code against the user's confirmed devices.

    A backup code is consumed by a successful check. Raises ``InvalidToken``.
    """
    device = match_token(user, token.strip().replace(" ", ""))
    if device is None:
        raise InvalidToken
    return device


@transaction.atomic
def mfa_disable(*, user: User, token: str) -> None:
    """Remove every second-factor device after checking a current code."""
    mfa_verify(user=user, token=token)
    for device in devices_for_user(user, confirmed=None):
        device.delete()
