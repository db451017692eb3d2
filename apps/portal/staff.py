"""Staff pages that combine contexts: the customer 360.

Staff only, with a verified second factor and the ``accounts.view_customer``
permission: a customer is refused (403), staff whose session has not given
the second factor are sent to give it (or set it up), like the admin does.
"""

from __future__ import annotations

from collections.abc import Callable

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from apps.accounts import selectors as account_selectors
from apps.accounts.models import (
    Account,
    Address,
    CommunicationPreference,
    ConsentRecord,
    Customer,
    Membership,
)
from apps.contracts import selectors as contract_selectors
from apps.contracts.models import Contract
from apps.core import clock
from apps.core.staff import staff_verified_required

AUDIT_ENTRIES_SHOWN = 100

View = Callable[..., HttpResponse]


def _audit_entries(objects_by_model: dict[type[Model], list[int]]) -> list[LogEntry]:
    """The latest audit-trail entries about any of the given objects, newest first."""
    condition = Q()
    for model, ids in objects_by_model.items():
        if ids:
            content_type = ContentType.objects.get_for_model(model)
            condition |= Q(content_type=content_type, object_id__in=ids)
    if not condition:
        return []
    return list(
        LogEntry.objects.filter(condition)
        .select_related("actor", "content_type")
        .order_by("-timestamp", "-id")[:AUDIT_ENTRIES_SHOWN]
    )


@staff_verified_required("accounts.view_customer")
def customer_360(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=customer_id)
    accounts = list(
        Account.objects.filter(customer=customer)
        .select_related("billing_address")
        .order_by("number", "id")
    )
    memberships = list(
        Membership.objects.filter(account__customer=customer)
        .select_related("user", "account")
        .order_by("account__number", "user__email", "id")
    )
    account_rows = []
    contract_ids: list[int] = []
    for account in accounts:
        contracts = list(contract_selectors.contracts_for_account(account))
        contract_ids += [c.pk for c in contracts]
        account_rows.append(
            {
                "account": account,
                "memberships": [m for m in memberships if m.account_id == account.pk],
                "contracts": contracts,
                "supply_points": contract_selectors.supply_points_for_account(account),
            }
        )
    consents = list(account_selectors.consent_history(customer))
    preference = account_selectors.communication_preference_for(customer)
    audit = _audit_entries(
        {
            Customer: [customer.pk],
            Account: [a.pk for a in accounts],
            Address: [a.billing_address_id for a in accounts],
            Membership: [m.pk for m in memberships],
            ConsentRecord: [c.pk for c in consents],
            CommunicationPreference: [preference.pk] if preference.pk else [],
            Contract: contract_ids,
        }
    )
    in_force = account_selectors.consents_in_force(customer)
    context = {
        "customer": customer,
        "accounts": account_rows,
        "consent_state": [(label, in_force[kind]) for kind, label in ConsentRecord.Kind.choices],
        "consents": consents,
        "preference": preference,
        "audit": audit,
        "audit_limit": AUDIT_ENTRIES_SHOWN,
        "zone": clock.local_zone(),
    }
    return render(request, "portal/staff_customer_360.html", context)
