"""money in integer cents

Every float money column becomes a BIGINT of whole cents (``total`` -> ``total_cents`` …), its
values converted (rounded to the cent); the downgrade converts them back to decimal amounts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> [(float column, cents column)]
MONEY: dict[str, list[tuple[str, str]]] = {
    "orders": [("total", "total_cents"), ("shipping_fee", "shipping_fee_cents"),
               ("paid_amount", "paid_cents"), ("refunded_amount", "refunded_cents")],
    "order_lines": [("unit_price", "unit_price_cents"), ("amount", "amount_cents")],
    "order_payments": [("amount", "amount_cents")],
    "refunds": [("amount", "amount_cents")],
    "reconciliations": [("amount", "amount_cents")],
    "returns": [("refund_amount", "refund_cents")],
}


def _convert(table: str, pairs: list[tuple[str, str]], *, to_cents: bool) -> None:
    """Add each new column (NOT NULL, default 0), fill it from the old one, drop the old one.
    Plain ALTER TABLE (SQLite 3.35+ and PostgreSQL): no table copy, so the foreign keys that
    point at the table stay as they are."""
    for old, new in pairs:
        src, dst = (old, new) if to_cents else (new, old)
        op.add_column(table, sa.Column(dst, sa.BigInteger() if to_cents else sa.Float(),
                                       nullable=False, server_default="0"))
        value = f'CAST(ROUND("{src}" * 100) AS BIGINT)' if to_cents else f'"{src}" / 100.0'
        # Table and column names are this revision's constants, never input.
        op.execute(f'UPDATE "{table}" SET "{dst}" = {value}')  # noqa: S608
        if op.get_bind().dialect.name == "postgresql":
            op.alter_column(table, dst, server_default=None)
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{src}"')


def upgrade() -> None:
    for table, pairs in MONEY.items():
        _convert(table, pairs, to_cents=True)


def downgrade() -> None:
    for table, pairs in MONEY.items():
        _convert(table, pairs, to_cents=False)
