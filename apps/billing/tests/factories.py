"""Builders for billing tests: accounts with owners, issued bills through the real issue path."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from apps.accounts.models import Account, User
from apps.billing.issuing import bills_issue
from apps.billing.models import Bill, BillLine
from apps.contracts.tests.factories import madrid, make_account
from apps.core import clock

__all__ = ["draft_bill", "issued_bill", "madrid", "make_account"]


def draft_bill(
    *,
    account: Account,
    total: Decimal,
    period_start: dt.date = dt.date(2026, 10, 1),
    period_end: dt.date | None = None,
    kwh: Decimal = Decimal("100.000"),
    tax_total: Decimal = Decimal("0.00"),
) -> Bill:
    """A DRAFT bill with one energy line worth ``total - tax_total`` and (if any) a tax line."""
    if period_end is None:
        period_end = (period_start.replace(day=1) + dt.timedelta(days=32)).replace(
            day=period_start.day
        )
    customer = account.customer
    address = account.billing_address
    bill = Bill.objects.create(
        kind=Bill.Kind.BILL,
        status=Bill.Status.DRAFT,
        account=account,
        period_start=period_start,
        period_end=period_end,
        account_number=account.number,
        customer_name=customer.name,
        customer_tax_id=customer.tax_id,
        billing_address=f"{address.line1}\n{address.postcode} {address.city}",
        supply_summary=[],
        kwh_import=kwh,
        subtotal=total - tax_total,
        tax_total=tax_total,
        total=total,
        computed_at=clock.now(),
    )
    starts = madrid(period_start.year, period_start.month, period_start.day)
    ends = madrid(period_end.year, period_end.month, period_end.day)
    energy = total - tax_total
    BillLine.objects.create(
        bill=bill,
        position=1,
        component="ENERGY",
        period="ALL",
        quantity=kwh,
        unit="kWh",
        unit_price=(energy / kwh) if kwh else Decimal(0),
        amount=energy,
        starts_at=starts,
        ends_at=ends,
    )
    if tax_total:
        BillLine.objects.create(
            bill=bill,
            position=2,
            component="TAX",
            period="VAT",
            quantity=Decimal(21),
            unit="%",
            unit_price=energy,
            amount=tax_total,
            starts_at=starts,
            ends_at=ends,
        )
    return bill


def issued_bill(
    *,
    account: Account,
    total: Decimal,
    period_start: dt.date = dt.date(2026, 10, 1),
    issued_at: dt.datetime | None = None,
    due_date: dt.date | None = None,
    actor: User | None = None,
    **draft: object,
) -> Bill:
    """An ISSUED bill: numbered, with payment reference, due date and its ledger entry."""
    bill = draft_bill(account=account, total=total, period_start=period_start, **draft)  # type: ignore[arg-type]
    bills_issue(bill_ids=[bill.pk], now=issued_at or clock.now(), actor=actor)
    if due_date is not None:
        Bill.objects.filter(pk=bill.pk).update(due_date=due_date)
    bill.refresh_from_db()
    return bill


def camt053_debits(*entries: tuple[str, str, str, str], reversal: bool = False) -> bytes:
    """A camt.053.001.02 statement of our account (ES91-2026-11-21) with one booked debit
    per (entry reference, amount, end-to-end id, return reason code or "" for none);
    ``reversal`` marks each as reversing a credit (``RvslInd``)."""

    def entry(ref: str, amount: str, end_to_end: str, code: str) -> str:
        reason = f"<RtrInf><Rsn><Cd>{code}</Cd></Rsn></RtrInf>" if code else ""
        return f"""
      <Ntry>
        <NtryRef>{ref}</NtryRef>
        <Amt Ccy="EUR">{amount}</Amt>
        <CdtDbtInd>DBIT</CdtDbtInd>{"<RvslInd>true</RvslInd>" if reversal else ""}
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-21</Dt></BookgDt>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RDDT</Cd><SubFmlyCd>UPDD</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls>
          <TxDtls>
            <Refs><EndToEndId>{end_to_end}</EndToEndId></Refs>{reason}
          </TxDtls>
        </NtryDtls>
      </Ntry>"""

    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>CAIX20261121-0001</MsgId><CreDtTm>2026-11-22T06:15:00+01:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>ES91-2026-11-21</Id>
      <CreDtTm>2026-11-22T06:15:00+01:00</CreDtTm>
      <Acct><Id><IBAN>ES9121000418450200051332</IBAN></Id><Ccy>EUR</Ccy></Acct>
      <Bal>
        <Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp>
        <Amt Ccy="EUR">10000.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Dt><Dt>2026-11-21</Dt></Dt>
      </Bal>{"".join(entry(*item) for item in entries)}
    </Stmt>
  </BkToCstmrStmt>
</Document>""".encode()
