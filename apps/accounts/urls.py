from django.urls import path

from apps.accounts import views

urlpatterns = [
    path("security/", views.security, name="account_security"),
    path("2fa/setup/", views.mfa_setup, name="mfa_setup"),
    path("2fa/verify/", views.mfa_verify, name="mfa_verify"),
    path("2fa/backup-codes/", views.mfa_backup_codes, name="mfa_backup_codes"),
    path("2fa/disable/", views.mfa_disable, name="mfa_disable"),
]
