from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return bool(getattr(settings, "WATTLINE_SIGNUP_OPEN", True))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Single sign-on is for staff accounts that already exist; it never creates users."""

    def is_open_for_signup(self, request: HttpRequest, sociallogin: object) -> bool:
        return False
