"""Billing: bill runs, immutable bills, the account ledger, payments and bank files.

Integrity lives here as constraints: one live bill per account and period, gapless
invoice numbers unique per series, one ledger entry per bill or payment event,
one processed gateway event per id, one active mandate per account.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.db.models.fields.json import KeyTextTransform
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.accounts.models import Account


class InvoiceSeries(models.Model):
    """A gapless numbering series. ``next_number`` is taken under a row lock at issue."""

    code = models.CharField(_("code"), max_length=16, unique=True)
    prefix = models.CharField(_("prefix"), max_length=16)
    next_number = models.PositiveIntegerField(_("next number"), default=1)

    class Meta:
        verbose_name = _("invoice series")
        verbose_name_plural = _("invoice series")
        constraints = [
            models.CheckConstraint(
                condition=Q(next_number__gte=1), name="billing_series_next_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.prefix})"


class BillRun(models.Model):
    """One billing period for the accounts with one billing day: preview, then issue."""

    class Status(models.TextChoices):
        PREVIEWING = "PREVIEWING", _("Computing preview")
        PREVIEWED = "PREVIEWED", _("Preview ready")
        ISSUING = "ISSUING", _("Issuing")
        ISSUED = "ISSUED", pgettext_lazy("bill run status", "Issued")
        CANCELLED = "CANCELLED", _("Cancelled")

    billing_day = models.PositiveSmallIntegerField(_("billing day"))
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"), help_text=_("Exclusive."))
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PREVIEWING
    )
    chunk_size = models.PositiveIntegerField(_("accounts per chunk"), default=500)
    accounts_total = models.PositiveIntegerField(_("accounts"), default=0)
    created_at = models.DateTimeField(_("created at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    preview_finished_at = models.DateTimeField(_("preview finished at"), null=True, blank=True)
    issue_started_at = models.DateTimeField(_("issue started at"), null=True, blank=True)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    #: Phase timings and other figures, for staff and the benchmark.
    stats = models.JSONField(_("figures"), default=dict, blank=True)

    class Meta:
        verbose_name = _("bill run")
        verbose_name_plural = _("bill runs")
        constraints = [
            models.UniqueConstraint(
                fields=["billing_day", "period_start"],
                condition=~Q(status="CANCELLED"),
                name="billing_one_run_per_period",
            ),
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")), name="billing_run_period_order"
            ),
            models.CheckConstraint(
                condition=Q(billing_day__gte=1, billing_day__lte=28),
                name="billing_run_billing_day_1_28",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period_start:%Y-%m-%d} – {self.period_end:%Y-%m-%d} (day {self.billing_day})"


class BillRunChunk(models.Model):
    """A slice of a run's accounts that any worker can take; done once per phase."""

    class Phase(models.TextChoices):
        PREVIEW = "PREVIEW", _("Preview")
        ISSUE = "ISSUE", _("Issue")

    run = models.ForeignKey(BillRun, on_delete=models.CASCADE, related_name="chunks")
    phase = models.CharField(max_length=8, choices=Phase.choices)
    number = models.PositiveIntegerField()
    account_ids = ArrayField(models.BigIntegerField())
    done_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    accounts_done = models.PositiveIntegerField(default=0)
    accounts_held = models.PositiveIntegerField(default=0)
    accounts_skipped = models.PositiveIntegerField(default=0)
    bills_issued = models.PositiveIntegerField(default=0)
    amount_total = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    seconds = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("bill run chunk")
        verbose_name_plural = _("bill run chunks")
        constraints = [
            models.UniqueConstraint(
                fields=["run", "phase", "number"], name="billing_chunk_once_per_phase"
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.phase} #{self.number}"


class Bill(models.Model):
    """A bill or credit note. Everything a customer reads is copied on at computation.

    Once ISSUED nothing about it changes except its PDF file and the CREDITED marker set
    when a credit note cancels it (services enforce this; admin fields are read-only).
    """

    class Kind(models.TextChoices):
        BILL = "BILL", _("Bill")
        CREDIT_NOTE = "CREDIT_NOTE", _("Credit note")

    class Status(models.TextChoices):
        DRAFT = "DRAFT", _("Draft")
        HELD = "HELD", _("Held for review")
        EXCLUDED = "EXCLUDED", _("Excluded")
        ISSUED = "ISSUED", pgettext_lazy("bill status", "Issued")
        CREDITED = "CREDITED", _("Credited")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.BILL)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="bills", verbose_name=_("account")
    )
    run = models.ForeignKey(
        BillRun, on_delete=models.PROTECT, null=True, blank=True, related_name="bills"
    )
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"), help_text=_("Exclusive."))
    series = models.ForeignKey(
        InvoiceSeries, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    number = models.PositiveIntegerField(_("number in series"), null=True, blank=True)
    invoice_number = models.CharField(
        _("invoice number"), max_length=32, null=True, blank=True, unique=True
    )
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    due_date = models.DateField(_("due date"), null=True, blank=True)
    original = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_notes",
        verbose_name=_("credits bill"),
    )
    # -- copied when computed (an issued bill never reads them from elsewhere) --
    account_number = models.CharField(_("account number"), max_length=16)
    customer_name = models.CharField(_("customer name"), max_length=200)
    customer_tax_id = models.CharField(_("customer tax id"), max_length=32, blank=True)
    billing_address = models.TextField(_("billing address"))
    supply_summary = models.JSONField(
        _("supplies"),
        default=list,
        help_text=_("Per contract: number, CUPS, address, tariff name and rates."),
    )
    # -- figures --
    kwh_import = models.DecimalField(_("kWh imported"), max_digits=14, decimal_places=3, default=0)
    kwh_export = models.DecimalField(_("kWh exported"), max_digits=14, decimal_places=3, default=0)
    subtotal = models.DecimalField(
        _("subtotal before tax"), max_digits=14, decimal_places=2, default=0
    )
    tax_total = models.DecimalField(_("taxes"), max_digits=14, decimal_places=2, default=0)
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2, default=0)
    previous_balance = models.DecimalField(
        _("previous balance"), max_digits=14, decimal_places=2, default=0
    )
    payments_since = models.DecimalField(
        _("payments since last bill"), max_digits=14, decimal_places=2, default=0
    )
    amount_due = models.DecimalField(_("amount due"), max_digits=14, decimal_places=2, default=0)
    readings_actual = models.PositiveIntegerField(_("actual readings"), default=0)
    readings_estimated = models.PositiveIntegerField(_("estimated readings"), default=0)
    minutes_expected = models.PositiveIntegerField(_("minutes to cover"), default=0)
    minutes_read = models.PositiveIntegerField(_("minutes with readings"), default=0)
    daily_kwh = models.JSONField(_("daily consumption"), default=list, blank=True)
    previous_kwh = models.DecimalField(
        _("kWh on previous bill"), max_digits=14, decimal_places=3, null=True, blank=True
    )
    previous_total = models.DecimalField(
        _("total of previous bill"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    payment_reference = models.CharField(
        _("payment reference"), max_length=35, null=True, blank=True, unique=True
    )
    computed_at = models.DateTimeField(_("computed at"))
    pdf = models.FileField(_("PDF"), upload_to="bills/%Y/%m/", blank=True)
    pdf_rendered_at = models.DateTimeField(_("PDF rendered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("bill")
        verbose_name_plural = _("bills")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "period_start"],
                condition=Q(kind="BILL", status__in=["DRAFT", "HELD", "ISSUED"]),
                name="billing_one_live_bill_per_account_period",
            ),
            models.UniqueConstraint(
                fields=["series", "number"], name="billing_number_once_per_series"
            ),
            models.UniqueConstraint(
                fields=["original"],
                condition=Q(kind="CREDIT_NOTE"),
                name="billing_one_credit_note_per_bill",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status__in=["ISSUED", "CREDITED"])
                    & Q(number__isnull=False, invoice_number__isnull=False, issued_at__isnull=False)
                )
                | (
                    ~Q(status__in=["ISSUED", "CREDITED"])
                    & Q(number__isnull=True, invoice_number__isnull=True)
                ),
                name="billing_issued_iff_numbered",
            ),
            models.CheckConstraint(
                condition=Q(kind="BILL", original__isnull=True)
                | Q(kind="CREDIT_NOTE", original__isnull=False),
                name="billing_credit_note_refers_to_original",
            ),
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")), name="billing_bill_period_order"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "-period_start"], name="billing_bill_account_idx"),
            models.Index(fields=["run", "status"], name="billing_bill_run_status_idx"),
            models.Index(fields=["status", "due_date"], name="billing_bill_due_idx"),
        ]

    def __str__(self) -> str:
        if self.invoice_number:
            return self.invoice_number
        return f"{self.account_number} {self.period_start:%Y-%m-%d} ({self.status})"

    @property
    def is_issued(self) -> bool:
        return self.status in (self.Status.ISSUED, self.Status.CREDITED)


class BillLine(models.Model):
    """One priced line, exactly as the rating engine returned it (amount rounded once)."""

    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    contract_number = models.CharField(max_length=20, blank=True)
    component = models.CharField(max_length=20)
    period = models.CharField(max_length=40, blank=True)
    tier = models.PositiveSmallIntegerField(null=True, blank=True)
    version_label = models.CharField(max_length=120, blank=True)
    label = models.CharField(max_length=200, blank=True)
    quantity = models.DecimalField(max_digits=20, decimal_places=8)
    unit = models.CharField(max_length=8)
    unit_price = models.DecimalField(max_digits=20, decimal_places=10)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        verbose_name = _("bill line")
        verbose_name_plural = _("bill lines")
        constraints = [
            models.UniqueConstraint(fields=["bill", "position"], name="billing_line_position"),
        ]

    def __str__(self) -> str:
        return f"{self.bill_id} #{self.position} {self.component} {self.amount}"


class BillIssue(models.Model):
    """Why a computed bill is held for review (pre-issue validation)."""

    class Code(models.TextChoices):
        NO_READINGS = "NO_READINGS", _("No readings")
        GAPS = "GAPS", _("Too many missing intervals")
        ESTIMATED_SHARE = "ESTIMATED_SHARE", _("Too many estimated readings")
        NEGATIVE_CONSUMPTION = "NEGATIVE_CONSUMPTION", _("Negative consumption")
        HIGH_CONSUMPTION = "HIGH_CONSUMPTION", _("Consumption far above the last 12 months")
        IMPLAUSIBLE_TOTAL = "IMPLAUSIBLE_TOTAL", _("Total outside the plausible range")
        NO_PRICE = "NO_PRICE", _("No price in force")
        RATING_FAILED = "RATING_FAILED", _("Could not be priced")

    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="issues")
    code = models.CharField(max_length=24, choices=Code.choices)
    message = models.TextField()
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("bill issue")
        verbose_name_plural = _("bill issues")
        constraints = [
            models.UniqueConstraint(fields=["bill", "code"], name="billing_issue_once_per_code"),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class LedgerEntry(models.Model):
    """One movement on an account. Balance = sum(amount); positive means the customer owes.

    Entries are only ever added. A bill or credit note posts once; a payment posts each of
    PAYMENT, PAYMENT_RETURNED and REINSTATED at most once, and any number of partial REFUNDs.
    """

    class Kind(models.TextChoices):
        BILL = "BILL", _("Bill")
        CREDIT_NOTE = "CREDIT_NOTE", _("Credit note")
        PAYMENT = "PAYMENT", _("Payment")
        PAYMENT_RETURNED = "PAYMENT_RETURNED", _("Returned payment")
        REINSTATED = "REINSTATED", _("Reinstated payment")
        REFUND = "REFUND", _("Refund")
        ADJUSTMENT = "ADJUSTMENT", _("Adjustment")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    posted_at = models.DateTimeField()
    description = models.CharField(max_length=200)
    bill = models.ForeignKey(
        Bill, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    payment = models.ForeignKey(
        "Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=80, blank=True)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.UniqueConstraint(
                fields=["bill", "kind"],
                condition=Q(bill__isnull=False, payment__isnull=True),
                name="billing_ledger_once_per_bill",
            ),
            models.UniqueConstraint(
                fields=["payment", "kind"],
                condition=Q(payment__isnull=False) & ~Q(kind="REFUND"),
                name="billing_ledger_once_per_payment",
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="billing_ledger_not_zero"),
        ]
        indexes = [models.Index(fields=["account", "posted_at"], name="billing_ledger_acct_idx")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.kind} {self.amount}"


class Mandate(models.Model):
    """A SEPA Direct Debit mandate (core scheme) given online by an account owner."""

    class Status(models.TextChoices):
        ACTIVE = "ACTIVE", _("Active")
        REVOKED = "REVOKED", _("Revoked")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="mandates")
    reference = models.CharField(_("mandate reference"), max_length=35, unique=True)
    debtor_name = models.CharField(_("account holder"), max_length=70)
    iban = models.CharField(_("IBAN"), max_length=34)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    signed_on = models.DateField(_("date of signature"))
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    #: Which wording of the authorisation the debtor accepted, and that wording exactly as
    #: shown (in the language of the page), so a disputed debit can be answered with it.
    text_version = models.CharField(_("mandate text version"), max_length=20, blank=True)
    accepted_text = models.TextField(_("accepted text"), blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    first_collected_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("direct debit mandate")
        verbose_name_plural = _("direct debit mandates")
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status="ACTIVE"),
                name="billing_one_active_mandate_per_account",
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class DirectDebitBatch(models.Model):
    """One pain.008 file: the collections sent to the bank for one collection date."""

    message_id = models.CharField(max_length=35, unique=True)
    collection_date = models.DateField(_("collection date"))
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    xml = models.TextField()
    payment_count = models.PositiveIntegerField(default=0)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("direct debit batch")
        verbose_name_plural = _("direct debit batches")

    def __str__(self) -> str:
        return f"{self.message_id} ({self.collection_date})"


class BankStatement(models.Model):
    """An imported ISO 20022 camt.053 statement; the same file twice is refused by hash."""

    statement_id = models.CharField(max_length=35)
    iban = models.CharField(max_length=34, blank=True)
    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64, unique=True)
    imported_at = models.DateTimeField()
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("bank statement")
        verbose_name_plural = _("bank statements")
        constraints = [
            models.UniqueConstraint(
                fields=["iban", "statement_id"], name="billing_statement_once_per_account"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.statement_id} ({self.file_name})"


class BankStatementEntry(models.Model):
    """A credit on the bank account, matched to a bill or waiting for review."""

    class Status(models.TextChoices):
        MATCHED = "MATCHED", _("Matched")
        PARTIAL = "PARTIAL", _("Partly paid")
        OVERPAID = "OVERPAID", _("Overpaid")
        UNMATCHED = "UNMATCHED", _("Waiting for review")
        RESOLVED = "RESOLVED", _("Resolved by staff")
        IGNORED = "IGNORED", _("Not a customer payment")

    statement = models.ForeignKey(BankStatement, on_delete=models.CASCADE, related_name="entries")
    entry_reference = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    booking_date = models.DateField()
    value_date = models.DateField(null=True, blank=True)
    debtor_name = models.CharField(max_length=140, blank=True)
    debtor_iban = models.CharField(max_length=34, blank=True)
    remittance = models.CharField(max_length=280, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    bill = models.ForeignKey(
        Bill, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    #: What the bank sent that has no column of its own, kept whole for review and audit:
    #: ``creditor_reference``, ``remittance`` (unstructured), ``end_to_end_id``,
    #: ``indicator`` (CRDT/DBIT), ``status`` (BOOK/PDNG/INFO), ``reversal``.
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("bank statement entry")
        verbose_name_plural = _("bank statement entries")
        constraints = [
            models.UniqueConstraint(
                fields=["statement", "entry_reference"], name="billing_statement_entry_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entry_reference} {self.amount} {self.status}"


class Payment(models.Model):
    """Money received (or attempted) for an account, by card, bank transfer or direct debit."""

    class Method(models.TextChoices):
        CARD = "CARD", _("Card")
        BANK_TRANSFER = "BANK_TRANSFER", _("Bank transfer")
        DIRECT_DEBIT = "DIRECT_DEBIT", _("Direct debit")

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Pending")
        SUCCEEDED = "SUCCEEDED", _("Succeeded")
        FAILED = "FAILED", pgettext_lazy("payment status", "Failed")
        RETURNED = "RETURNED", _("Returned")
        REFUNDED = "REFUNDED", _("Refunded")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="payments")
    bill = models.ForeignKey(
        Bill, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    method = models.CharField(_("method"), max_length=14, choices=Method.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    created_at = models.DateTimeField()
    received_at = models.DateTimeField(null=True, blank=True)
    gateway = models.CharField(max_length=16, blank=True)
    gateway_reference = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    bank_entry = models.ForeignKey(
        BankStatementEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    mandate = models.ForeignKey(
        Mandate, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    debit_batch = models.ForeignKey(
        DirectDebitBatch,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
    )
    end_to_end_id = models.CharField(
        max_length=35,
        null=True,  # NULL lets "none yet" repeat under the unique constraint
        blank=True,
        unique=True,
    )
    return_reason = models.CharField(_("return reason"), max_length=4, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "gateway_reference"],
                condition=Q(gateway_reference__isnull=False),
                name="billing_payment_gateway_reference_once",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_payment_positive"),
        ]
        indexes = [
            models.Index(fields=["account", "created_at"], name="billing_payment_acct_idx"),
            # A reversed bank transfer on a statement names the payer's end-to-end id.
            models.Index(
                KeyTextTransform("end_to_end_id", "details"),
                condition=Q(method="BANK_TRANSFER"),
                name="billing_payment_payer_e2e_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.amount} {self.status}"


class GatewayEvent(models.Model):
    """A payment-gateway webhook event, stored once per id (handling is idempotent)."""

    gateway = models.CharField(max_length=16)
    event_id = models.CharField(max_length=100)
    event_type = models.CharField(max_length=100)
    received_at = models.DateTimeField()
    payload = models.JSONField()
    processed_at = models.DateTimeField(null=True, blank=True)
    #: What handling made of it (``payments.EventOutcome``): applied, ignored, or why not.
    outcome = models.CharField(_("outcome"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("gateway event")
        verbose_name_plural = _("gateway events")
        constraints = [
            models.UniqueConstraint(fields=["gateway", "event_id"], name="billing_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.gateway} {self.event_id}"


class PaymentPlan(models.Model):
    """An agreed instalment plan: while active, dunning does not escalate the account."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="payment_plans")
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), null=True, blank=True, help_text=_("Exclusive."))
    instalment = models.DecimalField(_("instalment"), max_digits=14, decimal_places=2)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("payment plan")
        verbose_name_plural = _("payment plans")
        constraints = [
            models.CheckConstraint(
                condition=Q(instalment__gt=0), name="billing_plan_instalment_positive"
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gt=F("starts_on")),
                name="billing_plan_period_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} from {self.starts_on}"


class DunningNotice(models.Model):
    """One step of the reminder schedule for an overdue bill (sent at most once)."""

    class Level(models.IntegerChoices):
        FIRST_REMINDER = 1, _("First reminder")
        SECOND_REMINDER = 2, _("Second reminder")
        STAFF_FLAG = 3, _("Flagged for staff")

    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="dunning_notices")
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("dunning notice")
        verbose_name_plural = _("dunning notices")
        constraints = [
            models.UniqueConstraint(fields=["bill", "level"], name="billing_dunning_once"),
        ]

    def __str__(self) -> str:
        return f"{self.bill_id} level {self.level}"


__all__ = [
    "BankStatement",
    "BankStatementEntry",
    "Bill",
    "BillIssue",
    "BillLine",
    "BillRun",
    "BillRunChunk",
    "DirectDebitBatch",
    "DunningNotice",
    "GatewayEvent",
    "InvoiceSeries",
    "LedgerEntry",
    "Mandate",
    "Payment",
    "PaymentPlan",
]
