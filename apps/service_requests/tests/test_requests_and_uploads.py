"""Customers submit each type of request; forms say what to fix; files are checked and private."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.accounts.models import Account, User
from apps.service_requests import services, uploads
from apps.service_requests.models import (
    Motive,
    RequestType,
    ServiceDocument,
    ServiceRequest,
)
from apps.service_requests.tests.factories import (
    JPEG_BYTES,
    PDF_BYTES,
    PNG_BYTES,
    jpeg,
    madrid,
    make_account,
    make_supply_point,
    pdf,
    png,
)

pytestmark = pytest.mark.django_db
NOW = madrid(2026, 3, 10, 10, 0)


@pytest.fixture(autouse=True)
def _frozen() -> object:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def media_root(settings: object, tmp_path: Path) -> Path:
    root = tmp_path / "private-media"
    settings.MEDIA_ROOT = root  # type: ignore[attr-defined]
    return root


@pytest.fixture
def account(customer: User) -> Account:
    return make_account(customer)


@pytest.fixture
def client(customer: User) -> Client:
    client = Client()
    client.force_login(customer)
    return client


def _stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


NEW_CONNECTION = {
    "line1": "Camino del Pinar 12",
    "postcode": "28400",
    "city": "Collado Villalba",
    "requested_capacity_kw": "7.4",
    "desired_date": "2026-04-15",
    "description": "A new house; the plot has no connection yet.",
}


def test_customer_requests_a_new_connection_with_documents(
    client: Client, account: Account, media_root: Path
) -> None:
    response = client.post(
        "/my/requests/new/new-connection/",
        {**NEW_CONNECTION, "documents": [pdf(), png("plan.PNG"), jpeg("permit.jpeg")]},
    )
    assert response.status_code == 302
    created = ServiceRequest.objects.get()
    assert response["Location"] == f"/my/requests/{created.pk}/"
    assert (created.request_type, created.supply_point, str(created.address)) == (
        RequestType.NEW_CONNECTION,
        None,
        "Camino del Pinar 12, 28400 Collado Villalba",
    )
    assert created.requested_capacity_kw == Decimal("7.400")
    assert created.desired_date == dt.date(2026, 4, 15)
    documents = list(created.documents.order_by("id"))  # type: ignore[attr-defined]
    assert [(d.original_name, d.content_type, d.size_bytes) for d in documents] == [
        ("certificate.pdf", "application/pdf", len(PDF_BYTES)),
        ("plan.PNG", "image/png", len(PNG_BYTES)),
        ("permit.jpeg", "image/jpeg", len(JPEG_BYTES)),
    ]
    stored = _stored_files(media_root)
    assert len(stored) == 3
    assert all(path.is_relative_to(media_root / "service_requests") for path in stored)
    assert all("certificate" not in p.name and "plan" not in p.name for p in stored)
    static_root = Path(settings.STATIC_ROOT).resolve()
    assert not any(p.resolve().is_relative_to(static_root) for p in stored)

    download = client.get(f"/my/requests/{created.pk}/documents/{documents[0].pk}/")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"] == 'attachment; filename="certificate.pdf"'
    assert download["Cache-Control"] == "private, no-store"
    assert download["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content) == PDF_BYTES  # type: ignore[attr-defined]


def test_customer_reports_a_repair_with_photos(
    client: Client, account: Account, media_root: Path
) -> None:
    supply_point = make_supply_point(account)
    response = client.post(
        "/my/requests/new/repair/",
        {
            "supply_point": supply_point.pk,
            "description": "The main switch trips every evening around 8 pm.",
            "photos": [jpeg(), png()],
        },
    )
    assert response.status_code == 302
    created = ServiceRequest.objects.get()
    assert (created.request_type, created.supply_point) == (RequestType.REPAIR, supply_point)
    kinds = list(created.documents.values_list("kind", flat=True))  # type: ignore[attr-defined]
    assert kinds == [ServiceDocument.Kind.PHOTO, ServiceDocument.Kind.PHOTO]


@pytest.mark.parametrize(
    ("slug", "data", "expected"),
    [
        ("maintenance", {"description": "Yearly check of the meter box."}, RequestType.MAINTENANCE),
        ("meter-exchange", {"motive": Motive.METER_SMART}, RequestType.METER_EXCHANGE),
        (
            "disconnection",
            {"motive": Motive.MOVING_OUT, "desired_date": "2026-03-20"},
            RequestType.DISCONNECTION,
        ),
        ("reconnection", {}, RequestType.RECONNECTION),
        ("other", {"description": "Move the meter box two metres left."}, RequestType.OTHER),
    ],
)
def test_customer_submits_each_kind_of_request(
    client: Client, account: Account, slug: str, data: dict[str, str], expected: str
) -> None:
    supply_point = make_supply_point(account)
    form = client.get(f"/my/requests/new/{slug}/")
    assert form.status_code == 200
    response = client.post(f"/my/requests/new/{slug}/", {"supply_point": supply_point.pk, **data})
    assert response.status_code == 302, response.content.decode()
    created = ServiceRequest.objects.get()
    assert (created.request_type, created.status, created.supply_point) == (
        expected,
        ServiceRequest.Status.SUBMITTED,
        supply_point,
    )


def test_other_request_need_not_name_a_supply_point(client: Client, account: Account) -> None:
    make_supply_point(account)
    response = client.post(
        "/my/requests/new/other/", {"supply_point": "", "description": "Advice on a heat pump."}
    )
    assert response.status_code == 302
    assert ServiceRequest.objects.get().supply_point is None


@pytest.mark.parametrize(
    ("slug", "data", "messages"),
    [
        (
            "new-connection",
            {},
            [
                "Enter the street and number of the new connection.",
                "Enter the postcode, for example 28013.",
                "Enter the town or city.",
                "Enter the capacity you need in kW, for example 5.75.",
                "Enter the date you would like the work done.",
                "Attach at least one document",
            ],
        ),
        (
            "new-connection",
            {**NEW_CONNECTION, "requested_capacity_kw": "75", "desired_date": "2026-03-20"},
            [
                "Enter at most 50 kW; for more, please call our business team.",
                "Choose a date from 2026-03-25 to 2027-03-10.",
            ],
        ),
        (
            "new-connection",
            {**NEW_CONNECTION, "requested_capacity_kw": "five", "postcode": "99999"},
            ["Enter the capacity as a number of kW, for example 5.75."],
        ),
        (
            "repair",
            {"description": "broken"},
            [
                "Choose the supply point the request is about.",
                "Describe the fault in at least 20 characters: what happens, since when, "
                "and whether anything is unsafe.",
            ],
        ),
        ("meter-exchange", {}, ["Choose the reason from the list."]),
        (
            "disconnection",
            {"desired_date": "2026-03-11"},
            ["Choose the reason from the list.", "Choose a date from 2026-03-13 to 2027-03-10."],
        ),
        ("other", {"description": "hi"}, ["Tell us in at least 10 characters what you need."]),
    ],
)
def test_form_says_what_to_fix_and_stores_nothing(
    client: Client,
    account: Account,
    media_root: Path,
    slug: str,
    data: dict[str, str],
    messages: list[str],
) -> None:
    make_supply_point(account)
    response = client.post(f"/my/requests/new/{slug}/", data)
    body = response.content.decode().replace("&#x27;", "'")
    assert response.status_code == 400
    for message in messages:
        assert message in body
    assert 'role="alert"' in body
    assert ServiceRequest.objects.count() == 0
    assert _stored_files(media_root) == []


def test_spanish_postcode_rule_comes_from_the_address_service(
    client: Client, account: Account
) -> None:
    response = client.post(
        "/my/requests/new/new-connection/",
        {**NEW_CONNECTION, "postcode": "99999", "documents": pdf()},
    )
    assert response.status_code == 400
    assert "A Spanish postcode is five digits from 01000 to 52999." in response.content.decode()
    assert ServiceRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            SimpleUploadedFile("setup.exe", b"MZ\x90\x00" + b"\x00" * 32),
            "“setup.exe” is not a PDF, PNG or JPEG file.",
        ),
        (
            SimpleUploadedFile("invoice.pdf", b"<html><script>alert(1)</script></html>"),
            "“invoice.pdf” is not a PDF, PNG or JPEG file.",
        ),
        (
            SimpleUploadedFile("scan.pdf", PNG_BYTES),
            "“scan.pdf” is named like a PDF file but its content is PNG.",
        ),
        (SimpleUploadedFile("empty.pdf", b""), "The submitted file is empty."),
        (
            SimpleUploadedFile("huge.pdf", PDF_BYTES + b"0" * (12 * 1024 * 1024)),
            "“huge.pdf” is 12.0 MB; files can be at most 10.0 MB.",
        ),
    ],
    ids=["executable", "html-named-pdf", "png-named-pdf", "empty", "too-large"],
)
def test_upload_of_the_wrong_type_or_size_is_refused_and_nothing_is_stored(
    client: Client,
    account: Account,
    media_root: Path,
    upload: SimpleUploadedFile,
    message: str,
) -> None:
    response = client.post(
        "/my/requests/new/new-connection/", {**NEW_CONNECTION, "documents": [pdf(), upload]}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert ServiceRequest.objects.count() == 0
    assert ServiceDocument.objects.count() == 0
    assert _stored_files(media_root) == []


def test_too_many_files_are_refused(client: Client, account: Account) -> None:
    files = [pdf(f"page{n}.pdf") for n in range(6)]
    response = client.post(
        "/my/requests/new/new-connection/", {**NEW_CONNECTION, "documents": files}
    )
    assert response.status_code == 400
    assert "Upload at most 5 files here; you chose 6." in response.content.decode()


def test_repair_photos_must_be_images(client: Client, account: Account) -> None:
    supply_point = make_supply_point(account)
    response = client.post(
        "/my/requests/new/repair/",
        {
            "supply_point": supply_point.pk,
            "description": "The main switch trips every evening around 8 pm.",
            "photos": [pdf("photo.pdf")],
        },
    )
    assert response.status_code == 400
    assert "“photo.pdf” is not a PNG or JPEG file." in response.content.decode()


def test_the_service_checks_files_too(customer: User, account: Account, media_root: Path) -> None:
    with pytest.raises(services.InvalidUpload) as refused:
        services.service_request_submit(
            account=account,
            details=services.RequestDetails(
                request_type=RequestType.NEW_CONNECTION,
                address=services.NewAddress(line1="Calle 1", postcode="28400", city="Villalba"),
                requested_capacity_kw=Decimal("5"),
                desired_date=dt.date(2026, 4, 15),
                documents=[SimpleUploadedFile("x.pdf", b"not a pdf")],
            ),
            actor=customer,
            now=NOW,
        )
    assert refused.value.field == "documents"
    assert ServiceRequest.objects.count() == 0


def test_a_failure_after_storing_files_removes_them(
    customer: User, account: Account, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(**kwargs: object) -> int:
        raise RuntimeError("notification backend down")

    from apps.service_requests.services import _submission

    monkeypatch.setattr(_submission, "status_change_notify", boom)
    with pytest.raises(RuntimeError):
        services.service_request_submit(
            account=account,
            details=services.RequestDetails(
                request_type=RequestType.NEW_CONNECTION,
                address=services.NewAddress(line1="Calle 1", postcode="28400", city="Villalba"),
                requested_capacity_kw=Decimal("5"),
                desired_date=dt.date(2026, 4, 15),
                documents=[pdf()],
            ),
            actor=customer,
            now=NOW,
        )
    assert ServiceRequest.objects.count() == 0
    assert _stored_files(media_root) == []


def test_customer_cannot_request_for_a_supply_point_of_someone_else(
    client: Client, account: Account, other_customer: User
) -> None:
    theirs = make_supply_point(make_account(other_customer, name="Bruno"))
    response = client.post(
        "/my/requests/new/repair/",
        {"supply_point": theirs.pk, "description": "The main switch trips every evening."},
    )
    assert response.status_code == 400
    assert theirs.external_id not in response.content.decode()
    assert ServiceRequest.objects.count() == 0
    with pytest.raises(services.InvalidRequestDetails) as refused:
        services.service_request_submit(
            account=account,
            details=services.RequestDetails(
                request_type=RequestType.REPAIR,
                supply_point=theirs,
                description="The main switch trips every evening.",
            ),
            actor=account.memberships.get().user,  # type: ignore[attr-defined]
            now=NOW,
        )
    assert refused.value.field == "supply_point"


def test_unknown_request_type_is_not_found(client: Client, account: Account) -> None:
    assert client.get("/my/requests/new/teleport/").status_code == 404


def test_new_request_page_lists_every_type(client: Client, account: Account) -> None:
    body = client.get("/my/requests/new/").content.decode()
    for slug in (
        "new-connection",
        "maintenance",
        "repair",
        "meter-exchange",
        "disconnection",
        "reconnection",
        "other",
    ):
        assert f'href="/my/requests/new/{slug}/"' in body


def test_sniffing_reads_magic_bytes_not_names() -> None:
    assert uploads.sniff(PDF_BYTES[:16]) == "application/pdf"
    assert uploads.sniff(PNG_BYTES[:16]) == "image/png"
    assert uploads.sniff(JPEG_BYTES[:16]) == "image/jpeg"
    assert uploads.sniff(b"GIF89a") is None
    assert uploads.type_for_name("A.JPG") == "image/jpeg"
    assert uploads.type_for_name("a.pdf.exe") is None
    assert uploads.safe_name('..\\..\\etc/pass"wd.pdf') == "passwd.pdf"


def test_customer_with_no_account_is_told_so(make_user: Callable[..., User]) -> None:
    loner = make_user("loner@example.com")
    client = Client()
    client.force_login(loner)
    body = client.get("/my/requests/new/repair/").content.decode()
    assert "not linked to a customer account" in body
