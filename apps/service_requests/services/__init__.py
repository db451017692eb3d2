"""Service-request use cases: submit, move through the workflow, book and change visits.

Every status change goes through one locked core (``_workflow.transition_locked``), reached
from :func:`service_request_transition` (staff, jobs) and the customer doors
(:func:`service_request_cancel`, :func:`appointment_book`, :func:`appointment_cancel`). It
checks the transition table, writes a ``ServiceRequestStatusChange`` in the same
transaction and notifies the account's members once per change (decision 0600).

The public names are re-exported here; the modules behind them are private:
``_rules`` (tables and limits), ``_errors`` (named refusals), ``_workflow`` (transitions and
notifications), ``_submission`` (new requests and files), ``_appointments`` (slots, visits,
reminders, crews).
"""

from apps.service_requests.services._appointments import (
    appointment_book,
    appointment_cancel,
    appointments_send_reminders,
    available_slots,
    crew_ensure,
    crew_refusal,
    service_request_assign_crew,
)
from apps.service_requests.services._common import (
    change_refusal,
    sla_due_at,
    when_text,
)
from apps.service_requests.services._errors import (
    BookingNotAllowed,
    ChangeTooLate,
    CompletionNotesRequired,
    CrewBusy,
    CrewCannotTakeRequest,
    IllegalTransition,
    InvalidRequestDetails,
    InvalidUpload,
    NotAMember,
    ReasonRequired,
    ServiceRequestError,
    SlotNotOffered,
    SlotTaken,
)
from apps.service_requests.services._rules import (
    BOOKING_HORIZON_DAYS,
    BOOKING_LEAD,
    CHANGE_CUTOFF,
    CUSTOMER_CANCELLABLE,
    DESIRED_DATE_HORIZON_DAYS,
    DISCONNECTION_NOTICE_DAYS,
    EXCLUSION_CONSTRAINT,
    MAX_CAPACITY_KW,
    MAX_DESCRIPTION,
    MIN_CAPACITY_KW,
    MIN_FAULT_DESCRIPTION,
    MOTIVES_BY_TYPE,
    NEW_CONNECTION_NOTICE_DAYS,
    NOTIFICATION_KIND,
    REASON_REQUIRED,
    REMINDER_FROM,
    SLA_TARGETS,
    SLOT_LENGTH,
    TRANSITIONS,
)
from apps.service_requests.services._submission import (
    DESCRIPTION_MINIMUM,
    DESIRED_DATE_RULES,
    CheckedUpload,
    NewAddress,
    RequestDetails,
    Upload,
    description_error,
    desired_date_bounds,
    desired_date_error,
    service_request_submit,
    upload_check,
)
from apps.service_requests.services._workflow import (
    service_request_cancel,
    service_request_transition,
    status_change_notify,
)

__all__ = [
    "BOOKING_HORIZON_DAYS",
    "BOOKING_LEAD",
    "CHANGE_CUTOFF",
    "CUSTOMER_CANCELLABLE",
    "DESCRIPTION_MINIMUM",
    "DESIRED_DATE_HORIZON_DAYS",
    "DESIRED_DATE_RULES",
    "DISCONNECTION_NOTICE_DAYS",
    "EXCLUSION_CONSTRAINT",
    "MAX_CAPACITY_KW",
    "MAX_DESCRIPTION",
    "MIN_CAPACITY_KW",
    "MIN_FAULT_DESCRIPTION",
    "MOTIVES_BY_TYPE",
    "NEW_CONNECTION_NOTICE_DAYS",
    "NOTIFICATION_KIND",
    "REASON_REQUIRED",
    "REMINDER_FROM",
    "SLA_TARGETS",
    "SLOT_LENGTH",
    "TRANSITIONS",
    "BookingNotAllowed",
    "ChangeTooLate",
    "CheckedUpload",
    "CompletionNotesRequired",
    "CrewBusy",
    "CrewCannotTakeRequest",
    "IllegalTransition",
    "InvalidRequestDetails",
    "InvalidUpload",
    "NewAddress",
    "NotAMember",
    "ReasonRequired",
    "RequestDetails",
    "ServiceRequestError",
    "SlotNotOffered",
    "SlotTaken",
    "Upload",
    "appointment_book",
    "appointment_cancel",
    "appointments_send_reminders",
    "available_slots",
    "change_refusal",
    "crew_ensure",
    "crew_refusal",
    "description_error",
    "desired_date_bounds",
    "desired_date_error",
    "service_request_assign_crew",
    "service_request_cancel",
    "service_request_submit",
    "service_request_transition",
    "sla_due_at",
    "status_change_notify",
    "upload_check",
    "when_text",
]
