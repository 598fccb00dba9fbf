"""rules: the depot's automation rules (issue 14): position, name, on/off, stop after, the
trigger, conditions and effects (JSON), and a version the audit of every effect names; and
depot.rules_seq, which goes up with every change to them (actions keep the rules they
parsed while it stays the same).

Revision ID: 0009
Revises: 0006 (0007 and 0008 come from other branches; re-chained at merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("stop_after", sa.Boolean(), nullable=False),
        sa.Column("trigger", sa.JSON(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("effects", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules")),
        sa.UniqueConstraint("name", name=op.f("uq_rules_name")),
    )
    op.create_index(op.f("ix_rules_position"), "rules", ["position"])
    with op.batch_alter_table("depot") as batch:
        batch.add_column(sa.Column("rules_seq", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("depot") as batch:
        batch.drop_column("rules_seq")
    op.drop_index(op.f("ix_rules_position"), table_name="rules")
    op.drop_table("rules")
