"""Staff endpoints outside the admin: downloading a request's documents.

Staff only, with the second factor given in this session and the permission to view
service documents; customers get 403, staff without a verified session are sent to verify.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from apps.core.staff import staff_verified_required
from apps.service_requests.models import ServiceDocument
from apps.service_requests.views import document_response

View = Callable[..., HttpResponseBase]


@require_GET
@staff_verified_required("service_requests.view_servicedocument")
def document_download(request: HttpRequest, request_id: int, document_id: int) -> HttpResponseBase:
    document = (
        ServiceDocument.objects.filter(pk=document_id, service_request_id=request_id)
        .order_by("id")
        .first()
    )
    if document is None:
        raise Http404("No such document")
    return document_response(document)
