"""Agent runtime: restart generations and world checkpoints.

Revision ID: 0003_runtime
Revises: 0002_security
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_runtime"
down_revision = "0002_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("generation", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "world_checkpoints",
        sa.Column("world_id", sa.Uuid(), nullable=False),
        sa.Column("tick", sa.BigInteger(), nullable=False),
        sa.Column("agent_count", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["world_id"], ["worlds.id"], name=op.f("fk_world_checkpoints_world_id_worlds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("world_id", name=op.f("pk_world_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("world_checkpoints")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("generation")
