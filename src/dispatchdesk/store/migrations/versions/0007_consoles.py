"""consoles: who is here. One row per console or relay worker on the depot (presence), renewed
by its heartbeat; stale rows (a process killed) are ignored and pruned.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consoles",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("who", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("open_order", sa.String(length=50), nullable=True),
        sa.Column("screen", sa.String(length=50), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consoles")),
    )
    op.create_index(op.f("ix_consoles_seen_at"), "consoles", ["seen_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_consoles_seen_at"), table_name="consoles")
    op.drop_table("consoles")
