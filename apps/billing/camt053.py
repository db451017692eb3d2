"""ISO 20022 camt.053.001.02 bank statements: schema validation and a plain-data reader.

Pure: no Django, no clock, no settings. ``camt053_read`` validates the bytes against the
ISO schema bundled in ``schemas/`` (never fetching anything, refusing DTDs and entities)
and only then turns the document into dataclasses. Matching entries to bills is the
service's job (``apps.billing.bank_statements``).

What is read from each ``Ntry``: NtryRef (else AcctSvcrRef) as the entry reference, the
amount and its currency, CRDT/DBIT, the status (BOOK/PDNG/INFO), the reversal indicator,
booking and value dates, and from its transaction details the debtor's name and IBAN,
the unstructured remittance lines, the structured creditor reference
(RmtInf/Strd/CdtrRefInf/Ref) and the end-to-end id. A batch-booked entry whose several
TxDtls each carry their own amount becomes one transaction per TxDtls.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from xml.etree.ElementTree import Element  # type only: xmlschema parses, defused

import xmlschema
from xmlschema.exceptions import XMLResourceForbidden

SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "camt.053.001.02.xsd"
NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
_NS = {"c": NAMESPACE}
_MAX_MESSAGES = 20
#: The end-to-end id a payer's bank sends when the payer gave none.
NOT_PROVIDED = "NOTPROVIDED"

CREDIT = "CRDT"
DEBIT = "DBIT"
BOOKED = "BOOK"


class Camt053Invalid(ValueError):
    """The file is not a valid camt.053.001.02 document; ``messages`` say where and why.

    Each message is ``<element path>: <reason>`` as the schema validator reports it.
    """

    def __init__(self, messages: list[str]) -> None:
        super().__init__(messages[0])
        self.messages = messages


@dataclass(frozen=True, slots=True)
class Camt053Entry:
    """One transaction on the statement (one Ntry, or one TxDtls of a batch-booked Ntry)."""

    reference: str
    amount: Decimal
    currency: str
    indicator: str  # CRDT or DBIT
    status: str  # BOOK, PDNG or INFO
    reversal: bool
    booking_date: dt.date | None
    value_date: dt.date | None
    debtor_name: str
    debtor_iban: str
    remittance_unstructured: str
    creditor_reference: str
    end_to_end_id: str
    #: For a returned payment: the ISO return reason code (``TxDtls/RtrInf/Rsn/Cd``).
    return_reason: str = ""

    @property
    def is_credit(self) -> bool:
        return self.indicator == CREDIT

    @property
    def is_payment_candidate(self) -> bool:
        """A booked credit that is not the reversal of one of our own debits."""
        return self.indicator == CREDIT and self.status == BOOKED and not self.reversal


@dataclass(frozen=True, slots=True)
class Camt053Statement:
    """One Stmt: the account it reports on and its entries, in document order."""

    statement_id: str
    account_iban: str
    account_currency: str
    created_at: str  # ISODateTime as written (banks often omit the offset)
    entries: tuple[Camt053Entry, ...]


@dataclass(frozen=True, slots=True)
class Camt053Document:
    message_id: str
    created_at: str
    statements: tuple[Camt053Statement, ...]

    @property
    def entries(self) -> tuple[Camt053Entry, ...]:
        return tuple(entry for statement in self.statements for entry in statement.entries)

    @property
    def payment_candidates(self) -> tuple[Camt053Entry, ...]:
        return tuple(entry for entry in self.entries if entry.is_payment_candidate)

    @property
    def debit_count(self) -> int:
        return sum(1 for entry in self.entries if entry.indicator == DEBIT)

    @property
    def returns(self) -> tuple[Camt053Entry, ...]:
        """Booked debits that give a payment back: an end-to-end id, and a return reason
        or the reversal indicator (a debit reversing a credit)."""
        return tuple(
            entry
            for entry in self.entries
            if entry.indicator == DEBIT
            and entry.status == BOOKED
            and entry.end_to_end_id
            and (entry.return_reason or entry.reversal)
        )

    @property
    def other_count(self) -> int:
        """Credits that are not (yet) payments: pending, information only, or reversals."""
        return sum(
            1 for entry in self.entries if entry.is_credit and not entry.is_payment_candidate
        )


@functools.cache
def camt053_schema() -> xmlschema.XMLSchema10:
    """The ISO 20022 camt.053.001.02 schema, loaded once per process from the bundled file."""
    return xmlschema.XMLSchema10(str(SCHEMA_FILE), allow="local", defuse="always")


def _resource(content: bytes) -> xmlschema.XMLResource:
    try:
        return xmlschema.XMLResource(io.BytesIO(content), allow="none", defuse="always")
    except XMLResourceForbidden:
        raise Camt053Invalid(
            ["/: the file declares a DTD or entities; bank statements never need them."]
        ) from None
    except (xmlschema.XMLResourceError, SyntaxError) as exc:
        # xml.etree's ParseError (a SyntaxError) names line and column.
        raise Camt053Invalid([f"/: the file is not well-formed XML ({exc})."]) from None


def camt053_validation_errors(content: bytes) -> list[str]:
    """Why ``content`` is not a valid camt.053.001.02 document; empty when it is.

    At most the first 20 problems, each as ``<element path>: <reason>``.
    """
    try:
        resource = _resource(content)
    except Camt053Invalid as exc:
        return exc.messages
    return _errors(resource)


def _errors(resource: xmlschema.XMLResource) -> list[str]:
    messages: list[str] = []
    for error in camt053_schema().iter_errors(resource):
        messages.append(f"{error.path or '/'}: {error.reason}")
        if len(messages) >= _MAX_MESSAGES:
            break
    return messages


def camt053_read(content: bytes) -> Camt053Document:
    """Validate ``content`` against the schema, then read it.

    Raises Camt053Invalid (nothing is read) when the bytes are not well-formed XML,
    declare a DTD, or do not validate against camt.053.001.02.
    """
    resource = _resource(content)
    messages = _errors(resource)
    if messages:
        raise Camt053Invalid(messages)
    root = resource.root
    header = _find(root, "c:BkToCstmrStmt/c:GrpHdr")
    statements = tuple(_statement(node) for node in root.iterfind("c:BkToCstmrStmt/c:Stmt", _NS))
    return Camt053Document(
        message_id=_text(header, "c:MsgId"),
        created_at=_text(header, "c:CreDtTm"),
        statements=statements,
    )


# -- reading (the document is valid: mandatory elements are there) ------------------------


def _find(node: Element, path: str) -> Element:
    found = node.find(path, _NS)
    if found is None:  # pragma: no cover - the schema makes these mandatory
        raise Camt053Invalid([f"{path}: missing."])
    return found


def _text(node: Element | None, path: str) -> str:
    if node is None:
        return ""
    found = node.find(path, _NS)
    if found is None or found.text is None:
        return ""
    return " ".join(found.text.split())


def _date(node: Element | None) -> dt.date | None:
    """A DateAndDateTimeChoice: Dt, or the calendar date of DtTm as the bank wrote it."""
    if node is None:
        return None
    day = _text(node, "c:Dt")
    if day:
        return dt.date.fromisoformat(day[:10])
    stamp = _text(node, "c:DtTm")
    return dt.date.fromisoformat(stamp[:10]) if stamp else None


def _amount(node: Element | None) -> tuple[Decimal, str] | None:
    if node is None or node.text is None:
        return None
    try:
        return Decimal(node.text.strip()), node.get("Ccy", "")
    except InvalidOperation:  # pragma: no cover - the schema's decimal type
        return None


def _statement(node: Element) -> Camt053Statement:
    entries: list[Camt053Entry] = []
    for position, entry in enumerate(node.iterfind("c:Ntry", _NS), start=1):
        entries.extend(_entries(entry, position))
    return Camt053Statement(
        statement_id=_text(node, "c:Id"),
        account_iban=_text(node, "c:Acct/c:Id/c:IBAN"),
        account_currency=_text(node, "c:Acct/c:Ccy"),
        created_at=_text(node, "c:CreDtTm"),
        entries=tuple(entries),
    )


@dataclass(frozen=True, slots=True)
class _Party:
    debtor_name: str = ""
    debtor_iban: str = ""
    remittance_unstructured: str = ""
    creditor_reference: str = ""
    end_to_end_id: str = ""
    return_reason: str = ""


def _entries(entry: Element, position: int) -> list[Camt053Entry]:
    amount = _amount(entry.find("c:Amt", _NS))
    if amount is None:  # pragma: no cover - mandatory decimal in the schema
        raise Camt053Invalid([f"Ntry[{position}]/Amt: not an amount."])
    reference = _text(entry, "c:NtryRef") or _text(entry, "c:AcctSvcrRef") or f"ENTRY-{position}"

    def make(ref: str, value: tuple[Decimal, str], party: _Party) -> Camt053Entry:
        return Camt053Entry(
            reference=ref,
            amount=value[0],
            currency=value[1],
            indicator=_text(entry, "c:CdtDbtInd"),
            status=_text(entry, "c:Sts"),
            reversal=_text(entry, "c:RvslInd").lower() in ("true", "1"),
            booking_date=_date(entry.find("c:BookgDt", _NS)),
            value_date=_date(entry.find("c:ValDt", _NS)),
            debtor_name=party.debtor_name,
            debtor_iban=party.debtor_iban,
            remittance_unstructured=party.remittance_unstructured,
            creditor_reference=party.creditor_reference,
            end_to_end_id=party.end_to_end_id,
            return_reason=party.return_reason,
        )

    details = entry.findall("c:NtryDtls/c:TxDtls", _NS)
    parts = [_amount(tx.find("c:AmtDtls/c:TxAmt/c:Amt", _NS)) for tx in details]
    split = [part for part in parts if part is not None and part[1] == amount[1]]
    if len(details) > 1 and len(split) == len(details) and sum(p[0] for p in split) == amount[0]:
        # A batch booking whose transactions each carry their own amount.
        return [
            make(f"{reference}/{index}", part, _party(tx))
            for index, (tx, part) in enumerate(zip(details, split, strict=True), start=1)
        ]
    return [make(reference, amount, _party(details[0]) if details else _Party())]


def _party(tx: Element) -> _Party:
    lines = [
        " ".join(line.text.split())
        for line in tx.iterfind("c:RmtInf/c:Ustrd", _NS)
        if line.text and line.text.strip()
    ]
    creditor_reference = next(
        (
            " ".join(ref.text.split())
            for ref in tx.iterfind("c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref", _NS)
            if ref.text and ref.text.strip()
        ),
        "",
    )
    end_to_end = _text(tx, "c:Refs/c:EndToEndId")
    return _Party(
        debtor_name=_text(tx, "c:RltdPties/c:Dbtr/c:Nm"),
        debtor_iban=_text(tx, "c:RltdPties/c:DbtrAcct/c:Id/c:IBAN"),
        remittance_unstructured=" ".join(lines),
        creditor_reference=creditor_reference,
        end_to_end_id="" if end_to_end.upper() == NOT_PROVIDED else end_to_end,
        return_reason=_text(tx, "c:RtrInf/c:Rsn/c:Cd").upper(),
    )
