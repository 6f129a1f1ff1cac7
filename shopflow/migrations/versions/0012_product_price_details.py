"""products carry a price, a specification and an origin (seed 003 第七条)

The order form and ``POST /orders`` lines without a price take the product's price; a channel
may still send its own. Products created before this revision have no price (null) until an
admin sets one, so an order line for them still needs its own.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("price_cents", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("specification", sqlmodel.sql.sqltypes.AutoString(),
                                   nullable=True))
        batch.add_column(sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.drop_column("origin")
        batch.drop_column("specification")
        batch.drop_column("price_cents")
