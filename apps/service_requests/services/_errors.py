"""Named refusals of the service-request use cases. Each names the field at fault."""

from __future__ import annotations

# --------------------------------------------------------------------------------------------
# Exceptions: every refusal names the field at fault (None when it is the whole request).
# --------------------------------------------------------------------------------------------


class ServiceRequestError(Exception):
    """A refused service-request operation; ``field`` is the input the message is about."""

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class NotAMember(ServiceRequestError):
    """The user may not act for the account."""


class InvalidRequestDetails(ServiceRequestError):
    """A missing or unacceptable detail of a new request (``field`` says which)."""


class InvalidUpload(ServiceRequestError):
    """A file of the wrong type, too large, empty, or one too many."""


class IllegalTransition(ServiceRequestError):
    """The transition table (or the request's state) does not allow the move."""


class ReasonRequired(ServiceRequestError):
    field = "reason"


class CompletionNotesRequired(ServiceRequestError):
    field = "completion_notes"


class BookingNotAllowed(ServiceRequestError):
    """The request is not at a stage where a visit can be booked or changed."""


class SlotNotOffered(ServiceRequestError):
    """The chosen time is not one of the slots on offer for this request."""

    field = "slot"


class SlotTaken(ServiceRequestError):
    """Every crew that could take the slot was booked by someone else meanwhile."""

    field = "slot"


class ChangeTooLate(ServiceRequestError):
    """The visit starts within the cut-off: it can no longer be changed online."""


class CrewCannotTakeRequest(ServiceRequestError):
    field = "assigned_crew"


class CrewBusy(ServiceRequestError):
    field = "assigned_crew"
