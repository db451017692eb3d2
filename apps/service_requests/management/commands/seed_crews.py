"""Create demo field crews so customers can book visits in a fresh installation. Idempotent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand

from apps.service_requests import services
from apps.service_requests.models import RequestType

#: Every Spanish postcode starts with 0–5.
ALL_OF_SPAIN = ["0", "1", "2", "3", "4", "5"]
WEEKDAYS = range(5)

DEMO_CREWS: list[tuple[str, list[str], list[tuple[int, dt.time, dt.time]]]] = [
    (
        "Field crew A",
        list(RequestType.values),
        [(day, dt.time(8), dt.time(18)) for day in WEEKDAYS],
    ),
    (
        "Field crew B",
        [RequestType.REPAIR, RequestType.MAINTENANCE, RequestType.METER_EXCHANGE],
        [(day, dt.time(8), dt.time(14)) for day in [*WEEKDAYS, 5]],
    ),
]


class Command(BaseCommand):
    help = "Create the demo field crews (working Monday to Friday, covering all of Spain)."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, skills, hours in DEMO_CREWS:
            crew, created = services.crew_ensure(
                name=name, skills=skills, postcode_prefixes=ALL_OF_SPAIN, hours=hours
            )
            state = "created" if created else "already there"
            self.stdout.write(f"{crew.name}: {state}")
