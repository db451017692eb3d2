from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("Verification code"),
        help_text=_("The 6-digit code from your authenticator app, or one of your backup codes."),
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class ConfirmTotpForm(forms.Form):
    token = forms.RegexField(
        label=_("Code from your app"),
        regex=r"^\s*\d{3}\s?\d{3}\s*$",
        error_messages={"invalid": _("Enter the 6 digits your authenticator app shows.")},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


# --- Customer profile (portal) --------------------------------------------------
# These forms only check the shape of the input; the services decide and raise
# errors that name the field (``AccountsInputError.field`` = a field name here).


class ContactDetailsForm(forms.Form):
    email = forms.EmailField(
        label=_("Contact email"),
        help_text=_("Where we send bills and notices. It must be one of your verified addresses."),
        error_messages={"invalid": _("Enter a complete email address, like name@example.com.")},
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        label=_("Phone"),
        required=False,
        max_length=32,
        help_text=_("Optional. We use it for text messages and if we need to reach you."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )


class BillingAddressForm(forms.Form):
    line1 = forms.CharField(
        label=_("Street and number"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "address-line1"}),
    )
    line2 = forms.CharField(
        label=_("Floor, door, building (optional)"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line2"}),
    )
    postcode = forms.CharField(
        label=_("Postcode"),
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "postal-code", "inputmode": "numeric"}),
    )
    city = forms.CharField(
        label=_("Town or city"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "address-level2"}),
    )
    region = forms.CharField(
        label=_("Province (optional)"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-level1"}),
    )
    country = forms.CharField(
        label=_("Country code"),
        max_length=2,
        min_length=2,
        initial="ES",
        help_text=_("Two letters, for example ES."),
        widget=forms.TextInput(attrs={"autocomplete": "country"}),
    )


class PreferencesForm(forms.Form):
    paperless_bills = forms.BooleanField(
        label=_("Paperless bills (by email, no paper copy)"), required=False
    )
    email_notifications = forms.BooleanField(label=_("Notifications by email"), required=False)
    sms_notifications = forms.BooleanField(
        label=_("Notifications by text message"),
        required=False,
        help_text=_("Needs a phone number in your contact details."),
    )
    consent_marketing = forms.BooleanField(
        label=_("I agree to receive offers and news from us"), required=False
    )
    consent_usage_insights = forms.BooleanField(
        label=_("I agree that my meter readings are analysed to give me personal saving tips"),
        required=False,
    )

    CONSENT_FIELDS = {"MARKETING": "consent_marketing", "USAGE_INSIGHTS": "consent_usage_insights"}

    def consents(self) -> dict[str, bool]:
        """Consent kind → given, from the cleaned data."""
        return {kind: bool(self.cleaned_data[field]) for kind, field in self.CONSENT_FIELDS.items()}
