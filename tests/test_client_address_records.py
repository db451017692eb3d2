"""Records that keep a client address get the real client's, not a forged hop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

PROXY = "10.0.0.5"


@pytest.mark.django_db
def test_audit_trail_and_mandate_keep_the_real_client_address(
    settings: Any, make_user: Callable[..., Any]
) -> None:
    from auditlog.models import LogEntry
    from django.test import Client

    from apps.billing.models import Mandate
    from apps.billing.tests.factories import make_account

    settings.TRUSTED_PROXY_COUNT = 1
    customer = make_user("ana@example.com")
    account = make_account(customer)
    client = Client()
    client.force_login(customer)
    response = client.post(
        "/my/billing/direct-debit/",
        {
            "account": account.pk,
            "debtor_name": "Ana García",
            "iban": "ES9121000418450200051332",
            "accepted": "on",
        },
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="198.51.100.9, 203.0.113.7",
    )
    assert response.status_code == 302, response.content
    mandate = Mandate.objects.get()
    assert mandate.ip_address == "203.0.113.7"
    log = LogEntry.objects.get_for_object(mandate).get()
    assert log.remote_addr == "203.0.113.7"
