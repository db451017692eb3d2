"""The customer's profile pages, mounted at /my/profile/."""

from django.urls import path

from apps.accounts import profile_views

urlpatterns = [
    path("", profile_views.profile, name="profile"),
    path("contact/", profile_views.contact_update, name="profile_contact"),
    path("address/", profile_views.address_update, name="profile_address"),
    path("preferences/", profile_views.preferences, name="profile_preferences"),
]
