"""Staff upload reading files in the admin: small ones at once, large ones on a worker."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.accounts.models import Address
from apps.metering import uploads
from apps.metering.identifiers import make_cups
from apps.metering.models import ImportBatch, IntervalReading, Premise, SupplyPoint

pytestmark = pytest.mark.django_db
CUPS = make_cups(31, 21)
CSV = (
    "supply_point,interval_start,duration_minutes,kwh_import\n"
    f"{CUPS},2026-03-01T10:00:00Z,60,0.500\n"
    f"{CUPS},2026-03-01T11:00:00Z,60,oops\n"
)


@pytest.fixture
def supply_point() -> SupplyPoint:
    address = Address.objects.create(line1="Gran Via 1", postcode="28013", city="Madrid")
    return SupplyPoint.objects.create(
        external_id=CUPS, premise=Premise.objects.create(address=address)
    )


def test_operations_uploads_a_small_file_and_downloads_its_error_report(
    supply_point: SupplyPoint, staff_client_for: Callable[[str], Client]
) -> None:
    client = staff_client_for("operations")
    response = client.post(
        "/admin/metering/importbatch/upload/",
        {"file": SimpleUploadedFile("march.csv", CSV.encode(), "text/csv")},
    )
    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/metering/importbatch/{batch.pk}/change/"
    assert (batch.status, batch.rows_inserted, batch.rows_invalid) == ("DONE", 1, 1)
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "1 new, 0 corrected, 1 invalid" in page.content.decode()
    report = client.get(f"/admin/metering/importbatch/{batch.pk}/errors.csv")
    assert report.content.decode().splitlines() == [
        "row,field,reason,value",
        "3,kwh_import,not a number,oops",
    ]


def test_large_upload_runs_on_a_worker_and_reports_progress(
    supply_point: SupplyPoint,
    staff_client_for: Callable[[str], Client],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    from config.celery import app

    monkeypatch.setattr(uploads, "SYNC_LIMIT_BYTES", 10)
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the worker path itself is covered by test_celery_worker
    try:
        _upload_large_file(staff_client_for, django_capture_on_commit_callbacks)
    finally:
        app.conf.task_always_eager = was_eager


def _upload_large_file(
    staff_client_for: Callable[[str], Client],
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    client = staff_client_for("operations")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:  # type: ignore[attr-defined]
        client.post(
            "/admin/metering/importbatch/upload/",
            {"file": SimpleUploadedFile("march.csv", CSV.encode(), "text/csv")},
        )
    batch = ImportBatch.objects.get()
    assert batch.status == "RUNNING"
    assert IntervalReading.objects.count() == 0
    fragment = client.get(f"/admin/metering/importbatch/{batch.pk}/progress/").content.decode()
    assert "Waiting for a worker" in fragment
    for callback in callbacks:  # the commit happens: the task is enqueued and (eagerly) run
        callback()
    batch.refresh_from_db()
    assert (batch.status, batch.rows_inserted, batch.rows_invalid) == ("DONE", 1, 1)
    assert IntervalReading.objects.get().kwh_import == Decimal("0.500")
    assert uploads.import_progress(batch.pk).percent == 100  # type: ignore[union-attr]
    # The task is idempotent: running it again for a finished batch does nothing.
    uploads.readings_import_file(batch_id=batch.pk, path="/nonexistent.csv")
    assert IntervalReading.objects.count() == 1


def test_xml_and_empty_files_are_refused_with_the_reason(
    supply_point: SupplyPoint, staff_client_for: Callable[[str], Client]
) -> None:
    client = staff_client_for("operations")
    response = client.post(
        "/admin/metering/importbatch/upload/",
        {"file": SimpleUploadedFile("feed.xml", b"<feed/>", "text/xml")},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [
        "this looks like XML; use the Green Button import for ESPI files."
    ]
    assert ImportBatch.objects.count() == 0


def test_support_agents_and_customers_cannot_upload(
    supply_point: SupplyPoint, staff_client_for: Callable[[str], Client], customer: object
) -> None:
    agent = staff_client_for("support_agent")
    response = agent.post(
        "/admin/metering/importbatch/upload/",
        {"file": SimpleUploadedFile("march.csv", CSV.encode(), "text/csv")},
    )
    assert response.status_code == 403
    outsider = Client()
    outsider.force_login(customer)
    response = outsider.get("/admin/metering/importbatch/upload/")
    assert response.status_code == 302
    assert ImportBatch.objects.count() == 0
