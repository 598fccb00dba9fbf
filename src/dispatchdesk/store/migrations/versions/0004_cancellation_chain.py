"""the cancellation chain (issue 9): how long a partner's answer may take, room for the cancel
method api-window-then-email, what a linked depot's hello said about auto-trash and since when
both sides agree (partners), when a
sent notice's missing answer is chased (notices), whose cancellation waits for a warehouse's
answer (cancellations); and a partner's message id is unique per partner, not per depot
(received_messages' primary key becomes (partner_id, id); every stored message is kept).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partners") as batch:
        batch.add_column(
            sa.Column("answer_within_seconds", sa.Integer(), nullable=False, server_default="1800")
        )
        batch.add_column(sa.Column("peer_auto_trash", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("peer_hello_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("auto_trash_agreed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("hello_due", sa.Boolean(), nullable=False, server_default=sa.false()))
        # room for "api-window-then-email"
        batch.alter_column("cancel_method", type_=sa.String(length=30), existing_type=sa.String(length=20),
                           existing_nullable=False)
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("answer_due_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("cancellations") as batch:
        batch.add_column(sa.Column("requested_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("request_message_id", sa.String(length=100), nullable=True))
        batch.create_foreign_key(
            op.f("fk_cancellations_requested_by_id_partners"), "partners", ["requested_by_id"], ["id"]
        )
    with op.batch_alter_table("received_messages", recreate="always") as batch:
        batch.drop_constraint(op.f("pk_received_messages"), type_="primary")
        batch.create_primary_key(op.f("pk_received_messages"), ["partner_id", "id"])


def downgrade() -> None:
    # (fails if two partners used the same id meanwhile: such rows cannot live in the old key)
    with op.batch_alter_table("received_messages", recreate="always") as batch:
        batch.drop_constraint(op.f("pk_received_messages"), type_="primary")
        batch.create_primary_key(op.f("pk_received_messages"), ["id"])
    with op.batch_alter_table("cancellations") as batch:
        batch.drop_constraint(op.f("fk_cancellations_requested_by_id_partners"), type_="foreignkey")
        batch.drop_column("request_message_id")
        batch.drop_column("requested_by_id")
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("answer_due_at")
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("answer_within_seconds")
        batch.drop_column("peer_auto_trash")
        batch.drop_column("peer_hello_at")
        batch.drop_column("auto_trash_agreed_at")
        batch.drop_column("hello_due")
        batch.alter_column("cancel_method", type_=sa.String(length=20), existing_type=sa.String(length=30),
                           existing_nullable=False)
