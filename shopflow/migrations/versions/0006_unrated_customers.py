"""customers.credit_rating may be null: a customer nobody has rated yet is unrated, not "B"

Profiles created before this revision keep the rating they hold (a defaulted "B" cannot be told
from one given by a person).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("credit_rating", existing_type=sqlmodel.sql.sqltypes.AutoString(),
                           nullable=True)


def downgrade() -> None:
    op.execute("UPDATE customers SET credit_rating = 'B' WHERE credit_rating IS NULL")
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("credit_rating", existing_type=sqlmodel.sql.sqltypes.AutoString(),
                           nullable=False)
