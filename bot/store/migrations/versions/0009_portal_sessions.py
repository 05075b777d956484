"""server-side portal sessions

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 23:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_portal_sessions_staff_id", "portal_sessions", ["staff_id"])
    op.create_index("ix_portal_sessions_last_seen_at", "portal_sessions", ["last_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_portal_sessions_last_seen_at", table_name="portal_sessions")
    op.drop_index("ix_portal_sessions_staff_id", table_name="portal_sessions")
    op.drop_table("portal_sessions")
