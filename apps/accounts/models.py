from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person who signs in: a customer, a staff member or a regulator. Email is the login."""

    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField(_("email address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, blank=True, default=""
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []  # type: ignore[misc]

    objects = UserManager()  # type: ignore[assignment,misc]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


_PHONE_SEPARATORS = re.compile(r"[\s().\-]")
_PHONE_SHAPE = re.compile(r"^\+?[0-9]{9,15}$")

ACCOUNT_NUMBER_PREFIX = "WL"
ACCOUNT_NUMBER_SEQUENCE = "accounts_account_number_seq"


def normalise_phone(value: str) -> str:
    """``value`` without spaces, dots, dashes or brackets; ``ValueError`` if not a phone number.

    A phone number is 9 to 15 digits (ITU E.164), optionally after a ``+``.
    An empty value stays empty (the phone is optional).
    """
    text = _PHONE_SEPARATORS.sub("", value or "")
    if text.startswith("00"):
        text = "+" + text[2:]
    if text and not _PHONE_SHAPE.match(text):
        raise ValueError(_("Enter a phone number of 9 to 15 digits, for example +34 600 123 456."))
    return text


def validate_phone(value: str) -> None:
    """Model-field validator wrapping :func:`normalise_phone` (used by every ModelForm)."""
    try:
        normalise_phone(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_phone") from None


def luhn_check_digit(digits: str) -> str:
    """The Luhn (mod 10) check digit to append to ``digits``."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def account_number_is_valid(number: str) -> bool:
    """``WL`` + 8 digits + a Luhn check digit over those 8 digits."""
    body = number[len(ACCOUNT_NUMBER_PREFIX) :]
    return (
        number.startswith(ACCOUNT_NUMBER_PREFIX)
        and len(body) == 9
        and body.isdigit()
        and luhn_check_digit(body[:8]) == body[8]
    )


class Address(models.Model):
    """A postal address (billing address or the address of a premise)."""

    line1 = models.CharField(_("address line 1"), max_length=200)
    line2 = models.CharField(_("address line 2"), max_length=200, blank=True)
    postcode = models.CharField(_("postcode"), max_length=16, db_index=True)
    city = models.CharField(_("city"), max_length=100)
    region = models.CharField(_("region"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="ES")

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")

    def __str__(self) -> str:
        parts = [self.line1, self.line2, f"{self.postcode} {self.city}"]
        return ", ".join(p for p in parts if p)

    def as_lines(self) -> list[str]:
        lines = [self.line1, self.line2, f"{self.postcode} {self.city}", self.region]
        return [line for line in lines if line]


class Customer(models.Model):
    """The legal party that contracts supply: a household or a business."""

    class Kind(models.TextChoices):
        PERSON = "PERSON", _("Person")
        BUSINESS = "BUSINESS", _("Business")

    class Segment(models.TextChoices):
        RESIDENTIAL = "RESIDENTIAL", _("Residential")
        SME = "SME", _("Small business")
        COMMERCIAL = "COMMERCIAL", _("Commercial")

    class ConsumptionBand(models.TextChoices):
        UNKNOWN = "UNKNOWN", _("Unknown")
        LOW = "LOW", _("Low (under 2,500 kWh a year)")
        MEDIUM = "MEDIUM", _("Medium (2,500 to 5,000 kWh a year)")
        HIGH = "HIGH", _("High (5,000 to 15,000 kWh a year)")
        VERY_HIGH = "VERY_HIGH", _("Very high (over 15,000 kWh a year)")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("name"), max_length=200)
    tax_id = models.CharField(_("tax id"), max_length=32, blank=True)
    segment = models.CharField(
        _("segment"), max_length=16, choices=Segment.choices, default=Segment.RESIDENTIAL
    )
    email = models.EmailField(_("contact email"))
    phone = models.CharField(_("phone"), max_length=32, blank=True, validators=[validate_phone])
    has_ev = models.BooleanField(_("has an electric vehicle"), default=False)
    is_vulnerable = models.BooleanField(
        _("vulnerable customer"),
        default=False,
        help_text=_("Set by staff. Protects the customer from automatic escalation."),
    )
    # Derived by the segmentation service (apps.contracts.segmentation); never typed by hand.
    consumption_band = models.CharField(
        _("annual consumption band"),
        max_length=16,
        choices=ConsumptionBand.choices,
        default=ConsumptionBand.UNKNOWN,
        editable=False,
    )
    annual_kwh = models.DecimalField(
        _("annual consumption (kWh)"), max_digits=14, decimal_places=3, null=True, editable=False
    )
    has_solar = models.BooleanField(_("has solar"), default=False, editable=False)
    segments_refreshed_at = models.DateTimeField(null=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [models.Index(Lower("name"), name="accounts_customer_name_lower")]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"


class Account(models.Model):
    """A billing account: what bills are addressed to and payments are booked against."""

    class Status(models.TextChoices):
        ACTIVE = "ACTIVE", _("Active")
        CLOSED = "CLOSED", _("Closed")

    number = models.CharField(
        _("account number"),
        max_length=16,
        unique=True,
        help_text=_("Allocated by the system: WL, 8 digits and a check digit."),
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("customer")
    )
    billing_address = models.ForeignKey(
        Address, on_delete=models.PROTECT, related_name="+", verbose_name=_("billing address")
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.ACTIVE
    )
    billing_day = models.PositiveSmallIntegerField(
        _("billing day"), default=1, help_text=_("Day of the month a billing period starts (1-28).")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(billing_day__gte=1, billing_day__lte=28),
                name="accounts_account_billing_day_1_28",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class Membership(models.Model):
    """Who may act for an account in the portal."""

    class Role(models.TextChoices):
        OWNER = "OWNER", _("Owner")
        MEMBER = "MEMBER", _("Member")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=8, choices=Role.choices, default=Role.OWNER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "account"], name="accounts_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.account} ({self.role})"


class CommunicationPreference(models.Model):
    """How the customer wants to hear from us (one row per customer)."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="communication_preference"
    )
    paperless_bills = models.BooleanField(_("paperless bills"), default=True)
    email_notifications = models.BooleanField(_("email notifications"), default=True)
    sms_notifications = models.BooleanField(_("text message notifications"), default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("communication preference")
        verbose_name_plural = _("communication preferences")

    def __str__(self) -> str:
        return f"preferences of {self.customer}"


class ConsentRecord(models.Model):
    """One given or withdrawn consent. Append-only: the latest row per kind is in force."""

    class Kind(models.TextChoices):
        MARKETING = "MARKETING", _("Marketing messages")
        USAGE_INSIGHTS = "USAGE_INSIGHTS", _("Personalised usage insights")

    class Channel(models.TextChoices):
        PORTAL = "PORTAL", _("Customer portal")
        PHONE = "PHONE", _("Phone call")
        EMAIL = "EMAIL", _("Email")
        PAPER = "PAPER", _("Paper form")
        SIGN_UP = "SIGN_UP", _("Online sign-up")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    kind = models.CharField(_("consent"), max_length=16, choices=Kind.choices)
    granted = models.BooleanField(_("granted"))
    recorded_at = models.DateTimeField(_("recorded at"))
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("recorded by")
    )
    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, default=Channel.PORTAL
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        indexes = [models.Index(fields=["customer", "kind", "-recorded_at", "-id"])]

    def __str__(self) -> str:
        state = "granted" if self.granted else "withdrawn"
        at = f"{self.recorded_at:%Y-%m-%d %H:%M}"
        return f"{self.get_kind_display()} {state} by {self.customer} at {at}"
