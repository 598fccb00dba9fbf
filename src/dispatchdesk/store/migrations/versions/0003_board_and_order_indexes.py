"""indexes: the status lists' order (status, status_changed_at, id) and the relay's
per-order, per-partner sequence check (order_id, partner_id, seq).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_board", "orders", ["status", "status_changed_at", "id"])
    op.create_index("ix_notices_order_partner_seq", "notices", ["order_id", "partner_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_notices_order_partner_seq", table_name="notices")
    op.drop_index("ix_orders_board", table_name="orders")
