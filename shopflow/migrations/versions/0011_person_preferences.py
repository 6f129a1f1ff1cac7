"""person_preferences, staff_digest_items: how staff hear of their work (issue 17.4)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shopflow.models.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "person_preferences",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("task_notices", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("updated_at", shopflow.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "staff_digest_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("person", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", shopflow.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("digest_key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_staff_digest_items_person", "staff_digest_items", ["person"])
    op.create_index("ix_staff_digest_items_digest_key", "staff_digest_items", ["digest_key"])


def downgrade() -> None:
    op.drop_index("ix_staff_digest_items_digest_key", table_name="staff_digest_items")
    op.drop_index("ix_staff_digest_items_person", table_name="staff_digest_items")
    op.drop_table("staff_digest_items")
    op.drop_table("person_preferences")
