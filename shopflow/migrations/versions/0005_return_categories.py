"""returns.category (quality | wrong_item | missing_item | damaged_in_transit | no_reason) and
products.returnable (a product that comes back only with a fault, e.g. opened cosmetics)

Existing returns get a category from what they said: a quality issue is ``quality``, a reason
naming a wrong or missing item (the words the KPI report looked for) ``wrong_item`` or
``missing_item``, anything else ``no_reason``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORDS = {
    "wrong_item": ("wrong", "not what i ordered", "错发", "发错"),
    "missing_item": ("missing", "漏发", "少发", "缺件", "少件"),
}


def upgrade() -> None:
    op.add_column("products", sa.Column("returnable", sa.Boolean(), nullable=False,
                                        server_default=sa.true()))
    op.add_column("returns", sa.Column("category", sqlmodel.sql.sqltypes.AutoString(),
                                       nullable=False, server_default="no_reason"))
    returns = sa.table("returns", sa.column("category", sa.String()),
                       sa.column("reason", sa.String()), sa.column("quality_issue", sa.Boolean()))
    for category, words in WORDS.items():
        op.execute(returns.update()
                   .where(sa.or_(*(sa.func.lower(returns.c.reason).contains(w) for w in words)))
                   .values(category=category))
    op.execute(returns.update().where(returns.c.quality_issue == sa.true())
               .values(category="quality"))
    op.create_index(op.f("ix_returns_category"), "returns", ["category"])


def downgrade() -> None:
    op.drop_index(op.f("ix_returns_category"), table_name="returns")
    with op.batch_alter_table("returns") as batch:
        batch.drop_column("category")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("returnable")
