"""invoices, number_counters, reconciliation_differences: tax invoices on request with credit
notes numbered without gaps, and the differences between the books and the payment provider's
daily report (issue 18)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shopflow.models.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

String = sqlmodel.sql.sqltypes.AutoString
Time = shopflow.models.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "number_counters",
        sa.Column("name", String(length=20), nullable=False),
        sa.Column("last_no", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", String(length=200), nullable=False),
        sa.Column("kind", String(length=20), nullable=False),
        sa.Column("order_no", String(length=64), nullable=False),
        sa.Column("status", String(length=20), nullable=False),
        sa.Column("invoice_no", String(length=20), nullable=True),
        sa.Column("credits_invoice_no", String(length=20), nullable=True),
        sa.Column("refund_key", String(length=200), nullable=True),
        sa.Column("title", String(length=200), nullable=False),
        sa.Column("tax_id", String(length=18), nullable=True),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("net_cents", sa.BigInteger(), nullable=False),
        sa.Column("tax_cents", sa.BigInteger(), nullable=False),
        sa.Column("gross_cents", sa.BigInteger(), nullable=False),
        sa.Column("requested_by", String(length=100), nullable=False),
        sa.Column("requested_at", Time(timezone=True), nullable=False),
        sa.Column("issued_at", Time(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        sa.UniqueConstraint("invoice_no"),
    )
    op.create_index(op.f("ix_invoices_order_no"), "invoices", ["order_no"], unique=False)
    op.create_table(
        "reconciliation_differences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", String(length=250), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("provider", String(length=20), nullable=False),
        sa.Column("kind", String(length=20), nullable=False),
        sa.Column("what", String(length=30), nullable=False),
        sa.Column("reference", String(length=200), nullable=False),
        sa.Column("order_no", String(length=64), nullable=False),
        sa.Column("books_cents", sa.BigInteger(), nullable=True),
        sa.Column("provider_cents", sa.BigInteger(), nullable=True),
        sa.Column("status", String(length=20), nullable=False),
        sa.Column("decision", String(length=30), nullable=True),
        sa.Column("note", String(length=500), nullable=False),
        sa.Column("resolved_by", String(length=100), nullable=True),
        sa.Column("resolved_at", Time(timezone=True), nullable=True),
        sa.Column("created_at", Time(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index(op.f("ix_reconciliation_differences_day"), "reconciliation_differences",
                    ["day"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_reconciliation_differences_day"),
                  table_name="reconciliation_differences")
    op.drop_table("reconciliation_differences")
    op.drop_index(op.f("ix_invoices_order_no"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_table("number_counters")
