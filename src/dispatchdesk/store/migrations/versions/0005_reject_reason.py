"""reason codes on rejections (issue 9 item 7): each partner's default reason code for
trashing or rejecting its orders, and the reason code a rejected order was rejected with.

Revision ID: 0005
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partners") as batch:
        batch.add_column(sa.Column("reject_reason", sa.String(length=30), nullable=True))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("reject_reason", sa.String(length=30), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("reject_reason")
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("reject_reason")
