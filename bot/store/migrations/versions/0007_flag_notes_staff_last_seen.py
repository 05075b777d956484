"""flag notes, staff last seen

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 02:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flag_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("text_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["flag_id"], ["risk_flags.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("flag_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flag_notes_flag_id"), ["flag_id"], unique=False)
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("last_seen_at")
    with op.batch_alter_table("flag_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flag_notes_flag_id"))
    op.drop_table("flag_notes")
