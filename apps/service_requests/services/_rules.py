"""The workflow's tables and the limits the services apply (decisions 0600–0603)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Final

from apps.service_requests.models import (
    Motive,
    RequestType,
    ServiceRequest,
)

Status = ServiceRequest.Status

#: Which status may follow which (decision 0600). Anything else is refused.
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    Status.SUBMITTED: frozenset({Status.TRIAGED, Status.REJECTED, Status.CANCELLED}),
    Status.TRIAGED: frozenset(
        {Status.SCHEDULED, Status.IN_PROGRESS, Status.REJECTED, Status.CANCELLED}
    ),
    Status.SCHEDULED: frozenset({Status.IN_PROGRESS, Status.TRIAGED, Status.CANCELLED}),
    Status.IN_PROGRESS: frozenset({Status.COMPLETED, Status.TRIAGED}),
    Status.COMPLETED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.REJECTED: frozenset(),
}
#: A customer may withdraw a request until work has started.
CUSTOMER_CANCELLABLE: Final = frozenset({Status.SUBMITTED, Status.TRIAGED, Status.SCHEDULED})
REASON_REQUIRED: Final = frozenset({Status.CANCELLED, Status.REJECTED})

#: Time from submission to completion we promise per type (decision 0603).
SLA_TARGETS: Final[dict[str, dt.timedelta]] = {
    RequestType.RECONNECTION: dt.timedelta(hours=24),
    RequestType.REPAIR: dt.timedelta(hours=48),
    RequestType.DISCONNECTION: dt.timedelta(days=5),
    RequestType.METER_EXCHANGE: dt.timedelta(days=10),
    RequestType.MAINTENANCE: dt.timedelta(days=10),
    RequestType.OTHER: dt.timedelta(days=10),
    RequestType.NEW_CONNECTION: dt.timedelta(days=30),
}
MOTIVES_BY_TYPE: Final[dict[str, frozenset[str]]] = {
    RequestType.METER_EXCHANGE: frozenset(
        {Motive.METER_FAULTY, Motive.METER_SMART, Motive.METER_POWER, Motive.METER_RELOCATE}
    ),
    RequestType.DISCONNECTION: frozenset(
        {Motive.MOVING_OUT, Motive.WORKS, Motive.DEMOLITION, Motive.OTHER}
    ),
}

SLOT_LENGTH: Final = dt.timedelta(hours=2)
BOOKING_HORIZON_DAYS: Final = 14
#: Customers reschedule or cancel a visit online until this long before it starts (0602).
CHANGE_CUTOFF: Final = dt.timedelta(hours=24)
#: The earliest visit a customer can book, so that it can still be changed once booked.
BOOKING_LEAD: Final = CHANGE_CUTOFF
#: Day-before reminders go out from this local time on (decision 0602).
REMINDER_FROM: Final = dt.time(9, 0)

MIN_CAPACITY_KW: Final = Decimal("1")
MAX_CAPACITY_KW: Final = Decimal("50")
NEW_CONNECTION_NOTICE_DAYS: Final = 15
DESIRED_DATE_HORIZON_DAYS: Final = 365
DISCONNECTION_NOTICE_DAYS: Final = 3
MIN_FAULT_DESCRIPTION: Final = 20
MAX_DESCRIPTION: Final = 4000

NOTIFICATION_KIND: Final = "service_request"
EXCLUSION_CONSTRAINT: Final = "sr_appointment_crew_not_double_booked"
