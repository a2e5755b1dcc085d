"""Coalitions: objectives, coalitions and current memberships.

Revision ID: 0004_coalitions
Revises: 0003_runtime
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_coalitions"
down_revision = "0003_runtime"
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "objectives",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("world_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("region", JSON_DOCUMENT, nullable=False),
        sa.Column("required", JSON_DOCUMENT, nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("deadline_tick", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("value_credited", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'assigned', 'completed', 'expired')", name=op.f("ck_objectives_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_objectives_owner_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["world_id"], ["worlds.id"], name=op.f("fk_objectives_world_id_worlds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objectives")),
    )
    op.create_index(op.f("ix_objectives_owner_id"), "objectives", ["owner_id"], unique=False)
    op.create_index("ix_objectives_world_id_status", "objectives", ["world_id", "status"], unique=False)
    op.create_table(
        "coalitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("objective_id", sa.Uuid(), nullable=False),
        sa.Column("world_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("member_ids", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('forming', 'active', 'completed', 'dissolved')", name=op.f("ck_coalitions_state_known")
        ),
        sa.ForeignKeyConstraint(
            ["objective_id"],
            ["objectives.id"],
            name=op.f("fk_coalitions_objective_id_objectives"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["world_id"], ["worlds.id"], name=op.f("fk_coalitions_world_id_worlds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coalitions")),
    )
    op.create_index(op.f("ix_coalitions_objective_id"), "coalitions", ["objective_id"], unique=False)
    op.create_index(op.f("ix_coalitions_state"), "coalitions", ["state"], unique=False)
    op.create_index(op.f("ix_coalitions_world_id"), "coalitions", ["world_id"], unique=False)
    op.create_table(
        "coalition_members",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("coalition_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_coalition_members_agent_id_agents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["coalition_id"],
            ["coalitions.id"],
            name=op.f("fk_coalition_members_coalition_id_coalitions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_coalition_members")),
    )
    op.create_index(
        op.f("ix_coalition_members_coalition_id"), "coalition_members", ["coalition_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_coalition_members_coalition_id"), table_name="coalition_members")
    op.drop_table("coalition_members")
    op.drop_index(op.f("ix_coalitions_world_id"), table_name="coalitions")
    op.drop_index(op.f("ix_coalitions_state"), table_name="coalitions")
    op.drop_index(op.f("ix_coalitions_objective_id"), table_name="coalitions")
    op.drop_table("coalitions")
    op.drop_index("ix_objectives_world_id_status", table_name="objectives")
    op.drop_index(op.f("ix_objectives_owner_id"), table_name="objectives")
    op.drop_table("objectives")
