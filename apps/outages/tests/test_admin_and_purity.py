"""The admin pages for the network and outages load; the pure modules stay pure."""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client

from apps.outages import services
from apps.outages.models import Outage
from apps.outages.tests.factories import build_network, lose

PURE = ("clustering.py", "reliability.py")


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_no_django_and_no_clock(name: str) -> None:
    source = (Path(__file__).resolve().parents[1] / name).read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {
        "__future__",
        "datetime",
        "collections",
        "dataclasses",
        "decimal",
        "enum",
        "zoneinfo",
    }
    assert ".now(" not in source
    assert ".today(" not in source


@pytest.mark.django_db
def test_operations_staff_use_the_network_and_outage_admin(
    staff_client_for: Callable[[str], Client],
) -> None:
    net = build_network(feeders=1, transformers=1, points=3)
    now = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
    lose(net.under("S1F1T1"), now)
    services.outages_detect(now=now + dt.timedelta(minutes=2))
    outage = Outage.objects.get()
    client = staff_client_for("operations")
    base = "/" + __import__("django.conf").conf.settings.ADMIN_URL

    for path in (
        "outages/substation/",
        "outages/feeder/",
        "outages/transformer/",
        "outages/supplypointconnection/",
        "outages/outage/",
        f"outages/outage/{outage.pk}/change/",
        "outages/outagepoint/",
        f"outages/transformer/{net.transformers[0].pk}/change/",
        "outages/supplypointconnection/add/",
    ):
        assert client.get(base + path).status_code == 200, path
    assert client.get(base + "outages/outage/add/").status_code == 403

    response = client.post(
        base + "outages/outage/",
        {"action": "mark_restored", "_selected_action": [outage.pk]},
    )
    assert response.status_code == 302
    outage.refresh_from_db()
    assert outage.status == Outage.Status.RESTORED
