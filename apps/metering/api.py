"""REST API for meter head-ends: push batches of interval readings and meter events.

Authentication: ``Authorization: Bearer <token>`` with a per-system token
(``manage.py issue_headend_token NAME``). Documented in the OpenAPI schema at
/api/schema/ (Redoc at /api/docs/).
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.metering.headends import headend_authenticate, meter_events_record
from apps.metering.ingestion import CandidateRow, ingest_candidates
from apps.metering.models import HeadEndSystem

MAX_BATCH = 50_000


class HeadEndTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[AnonymousUser, HeadEndSystem] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        system = headend_authenticate(header[1].decode(errors="replace"))
        if system is None:
            raise AuthenticationFailed("Unknown or inactive head-end token.")
        return AnonymousUser(), system

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class HeadEndTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "apps.metering.api.HeadEndTokenAuthentication"
    name = "HeadEndToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "Per head-end system token."}


class IsHeadEnd(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, HeadEndSystem)


class ReadingIn(serializers.Serializer):  # type: ignore[type-arg]
    supply_point = serializers.CharField(help_text="CUPS of the supply point.")
    interval_start = serializers.CharField(
        help_text="ISO 8601 with offset, e.g. 2026-03-01T10:00:00Z."
    )
    duration_minutes = serializers.IntegerField(help_text="15, 30 or 60.")
    kwh_import = serializers.CharField(help_text="kWh, at most 3 decimals, as a string.")
    kwh_export = serializers.CharField(required=False, default="0")
    quality = serializers.ChoiceField(
        choices=["ACTUAL", "ESTIMATED", "CORRECTED"], required=False, default="ACTUAL"
    )


class ReadingBatchIn(serializers.Serializer):  # type: ignore[type-arg]
    readings = serializers.ListField(child=serializers.DictField(), max_length=MAX_BATCH)
    strict = serializers.BooleanField(default=False, help_text="Store nothing if any item is bad.")


class RowErrorOut(serializers.Serializer):  # type: ignore[type-arg]
    row = serializers.IntegerField(help_text="1-based position of the item in the batch.")
    field = serializers.CharField()
    reason = serializers.CharField()
    value = serializers.CharField()


class ReadingReportOut(serializers.Serializer):  # type: ignore[type-arg]
    batch = serializers.IntegerField()
    status = serializers.CharField()
    received = serializers.IntegerField()
    inserted = serializers.IntegerField()
    corrected = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    ignored_estimates = serializers.IntegerField()
    invalid = serializers.IntegerField()

    def get_fields(self) -> dict[str, serializers.Field]:  # type: ignore[type-arg]
        # "errors" would shadow Serializer.errors if declared as a class attribute.
        return {**super().get_fields(), "errors": RowErrorOut(many=True)}


class EventIn(serializers.Serializer):  # type: ignore[type-arg]
    supply_point = serializers.CharField()
    kind = serializers.ChoiceField(choices=["POWER_LOST", "POWER_RESTORED", "TAMPER"])
    occurred_at = serializers.CharField(help_text="ISO 8601 with offset.")


class EventBatchIn(serializers.Serializer):  # type: ignore[type-arg]
    events = serializers.ListField(child=serializers.DictField(), max_length=MAX_BATCH)


class EventReportOut(serializers.Serializer):  # type: ignore[type-arg]
    received = serializers.IntegerField()
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()

    def get_fields(self) -> dict[str, serializers.Field]:  # type: ignore[type-arg]
        return {**super().get_fields(), "errors": RowErrorOut(many=True)}


def _text(value: object) -> str:
    return "" if value is None else str(value)


class ReadingBatchView(APIView):
    authentication_classes = [HeadEndTokenAuthentication]
    permission_classes = [IsHeadEnd]

    @extend_schema(
        request=ReadingBatchIn,
        responses={200: ReadingReportOut, 422: ReadingReportOut},
        summary="Push a batch of interval readings",
        description=(
            "Idempotent: the same batch twice stores nothing twice. A changed value for a "
            "stored interval is stored as CORRECTED with the old value kept; estimates never "
            "replace measured values. Items are validated one by one; `errors` names the item, "
            "the field and the reason. With `strict`, one bad item rejects the batch (422)."
        ),
    )
    def post(self, request: Request) -> Response:
        body = ReadingBatchIn(data=request.data)
        body.is_valid(raise_exception=True)
        items = body.validated_data["readings"]
        candidates = (
            CandidateRow(
                number,
                _text(item.get("supply_point")),
                _text(item.get("interval_start")),
                _text(item.get("duration_minutes")),
                _text(item.get("kwh_import")),
                _text(item.get("kwh_export", "0")),
                _text(item.get("quality", "ACTUAL")),
            )
            for number, item in enumerate(items, start=1)
        )
        system = cast(HeadEndSystem, request.auth)
        report = ingest_candidates(
            candidates,
            source="API",
            filename=f"api:{system.name}",
            strict=body.validated_data["strict"],
            actor_label=f"head-end:{system.name}",
        )
        data = {
            "batch": report.batch_id,
            "status": report.status,
            "received": report.rows_total,
            "inserted": report.inserted,
            "corrected": report.corrected,
            "unchanged": report.unchanged,
            "ignored_estimates": report.ignored,
            "invalid": report.invalid,
            "errors": [e.as_dict() for e in report.errors[:1000]],
        }
        code = status.HTTP_422_UNPROCESSABLE_ENTITY if report.status == "REJECTED" else 200
        return Response(data, status=code)


class EventBatchView(APIView):
    authentication_classes = [HeadEndTokenAuthentication]
    permission_classes = [IsHeadEnd]

    @extend_schema(
        request=EventBatchIn,
        responses={200: EventReportOut},
        summary="Push meter events (power lost/restored, tamper)",
        description="Idempotent on (supply point, kind, time). Bad items are listed, not stored.",
    )
    def post(self, request: Request) -> Response:
        body = EventBatchIn(data=request.data)
        body.is_valid(raise_exception=True)
        system = cast(HeadEndSystem, request.auth)
        report = meter_events_record(
            events=body.validated_data["events"], source=f"api:{system.name}"
        )
        return Response(
            {
                "received": report.received,
                "stored": report.stored,
                "duplicates": report.duplicates,
                "errors": [e.as_dict() for e in report.errors[:1000]],
            }
        )
