"""link health and inbound dedupe: partner last contact / last error / stopped link,
and the ids of partners' messages already applied.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partners") as batch:
        batch.add_column(
            sa.Column("link_stopped", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("last_contact_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "received_messages",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_received_messages_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_received_messages")),
    )


def downgrade() -> None:
    op.drop_table("received_messages")
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("link_stopped")
        batch.drop_column("last_contact_at")
        batch.drop_column("last_error")
        batch.drop_column("last_error_at")
