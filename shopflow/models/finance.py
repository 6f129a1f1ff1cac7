"""Finance: tax invoices on request (发票) and their credit notes (红字发票), the gap-free
number counter they share, and the differences found between Shopflow's books and the payment
provider's daily report (财务对账). Money in whole cents, like the rest (revision 0004)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from shopflow.models.orders import cents_field, decimal
from shopflow.models.types import json_field, time_field

# --- the tax ID (GB 32100-2015) -----------------------------------------------------------

TAX_ID_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
TAX_ID_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
TAX_ID_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")


def tax_id_check_char(first17: str) -> str:
    total = sum(TAX_ID_CHARS.index(c) * w for c, w in zip(first17, TAX_ID_WEIGHTS, strict=True))
    return TAX_ID_CHARS[(31 - total % 31) % 31]


def check_tax_id(value: str) -> str:
    """The unified social credit code, upper case; ValueError saying what is wrong."""
    code = value.strip().upper()
    if len(code) != 18:
        raise ValueError(f"a unified social credit code has 18 characters, not {len(code)}")
    if not TAX_ID_SHAPE.fullmatch(code):
        raise ValueError("a unified social credit code is digits and capital letters except "
                         "I, O, S, V, Z, with digits in places 3 to 8")
    if tax_id_check_char(code[:17]) != code[17]:
        raise ValueError("the last character (the check character) does not match: "
                         "a character is mistyped")
    return code


class NumberCounter(SQLModel, table=True):
    """The last number handed out in a series (``invoice``). Incremented in the same
    transaction as the row that takes the number, so a rolled-back issue leaves no gap and two
    issues at once never share a number (the UPDATE holds the row until commit)."""

    __tablename__ = "number_counters"

    name: str = Field(primary_key=True, max_length=20)
    last_no: int = Field(default=0, sa_type=BigInteger)


class Invoice(SQLModel, table=True):
    """A tax invoice asked for on an order (``invoice:<order_no>``), or a credit note for a
    refund of it (``credit:<refund key>``). ``requested`` until the order is paid (online: the
    capture; cash on delivery: the collection), then ``issued`` with the next number. Amounts
    are positive; a credit note takes its amounts off the invoice it names."""

    __tablename__ = "invoices"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)
    kind: str = Field(default="invoice", max_length=20)  # invoice | credit_note
    order_no: str = Field(index=True, max_length=64)
    status: str = Field(default="requested", max_length=20)  # requested | issued
    invoice_no: str | None = Field(default=None, unique=True, max_length=20)
    credits_invoice_no: str | None = Field(default=None, max_length=20)
    refund_key: str | None = Field(default=None, max_length=200)
    title: str = Field(max_length=200)
    tax_id: str | None = Field(default=None, max_length=18)
    lines: list[dict[str, Any]] = json_field(list)
    net_cents: int = cents_field()
    tax_cents: int = cents_field()
    gross_cents: int = cents_field()
    requested_by: str = Field(default="system", max_length=100)
    requested_at: datetime = time_field()
    issued_at: datetime | None = time_field(nullable=True)

    @property
    def gross(self) -> float:
        return decimal(self.gross_cents)


class ReconciliationDifference(SQLModel, table=True):
    """One difference between the books and the provider's report of a day: a payment or refund
    only one side has, or the two sides' amounts. Each opens a finance case
    (``recdiff-<id>``) whose decision closes it: ``accept_provider`` (an adjustment line in the
    books), ``fix_books`` or ``raise_with_provider`` (with a note)."""

    __tablename__ = "reconciliation_differences"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=250)  # day:provider:kind:reference
    day: date = Field(index=True)
    provider: str = Field(max_length=20)
    kind: str = Field(max_length=20)  # payment | refund
    what: str = Field(max_length=30)  # missing_at_provider | missing_in_books | amount_differs
    reference: str = Field(max_length=200)
    order_no: str = Field(default="", max_length=64)
    books_cents: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    provider_cents: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    status: str = Field(default="open", max_length=20)  # open | resolved
    decision: str | None = Field(default=None, max_length=30)
    note: str = Field(default="", max_length=500)
    resolved_by: str | None = Field(default=None, max_length=100)
    resolved_at: datetime | None = time_field(nullable=True)
    created_at: datetime = time_field()


class BankDetailsRequest(SQLModel, table=True):
    """Finance asking a COD customer for the account a transfer refund goes to (issue 17.6).
    The link's secret is never stored: ``token`` is its SHA-256 (security/links.py,
    ``bank_token``); the link works once until ``expires_at``. The account number is kept
    whole for the transfer and shown masked (its last 4 digits)."""

    __tablename__ = "bank_detail_requests"

    id: int | None = Field(default=None, primary_key=True)
    refund_id: int = Field(index=True)
    token: str = Field(unique=True, max_length=64)
    status: str = Field(default="open", max_length=20)  # open | received
    requested_by: str = Field(max_length=100)
    requested_at: datetime = time_field()
    expires_at: datetime = time_field()
    account_holder: str | None = Field(default=None, max_length=100)
    bank_name: str | None = Field(default=None, max_length=100)
    account_number: str | None = Field(default=None, max_length=34)
    received_at: datetime | None = time_field(nullable=True)
