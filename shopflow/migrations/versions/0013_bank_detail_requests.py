"""finance asks a COD customer for bank details where a transfer refund is due (issue 17.6)

One row per request: the SHA-256 of the one-time link (never the link), who asked and when,
its expiry, and what the customer entered (account holder, bank, account number).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shopflow.models.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_detail_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("refund_id", sa.Integer(), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("requested_at", shopflow.models.types.UTCDateTime(timezone=True),
                  nullable=False),
        sa.Column("expires_at", shopflow.models.types.UTCDateTime(timezone=True),
                  nullable=False),
        sa.Column("account_holder", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("bank_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("account_number", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=True),
        sa.Column("received_at", shopflow.models.types.UTCDateTime(timezone=True),
                  nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_bank_detail_requests_refund_id", "bank_detail_requests", ["refund_id"])


def downgrade() -> None:
    op.drop_index("ix_bank_detail_requests_refund_id", table_name="bank_detail_requests")
    op.drop_table("bank_detail_requests")
