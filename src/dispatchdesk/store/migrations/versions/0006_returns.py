"""returns: goods of a Picked up or Delivered order coming back (SPEC 4.11), with their
lines and quantities, reason, comment and return number; the partner whose notice
recorded it (none when registered here).

Revision ID: 0006
Revises: 0003 (0004 and 0005 come from other branches; re-chained at merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "returns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("reported_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_returns_order_id_orders")),
        sa.ForeignKeyConstraint(
            ["reported_by_id"], ["partners.id"], name=op.f("fk_returns_reported_by_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_returns")),
    )
    op.create_index(op.f("ix_returns_number"), "returns", ["number"])
    op.create_index(op.f("ix_returns_order_id"), "returns", ["order_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_returns_order_id"), table_name="returns")
    op.drop_index(op.f("ix_returns_number"), table_name="returns")
    op.drop_table("returns")
