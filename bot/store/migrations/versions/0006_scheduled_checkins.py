"""scheduled check-ins, preferred check-in time

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 02:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("dosing_session_id", sa.Integer(), nullable=True),
        sa.Column("prompt_set", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("nudged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dosing_session_id"], ["dosing_sessions.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "prompt_set", "due_at", name="uq_scheduled_once"),
    )
    with op.batch_alter_table("scheduled_checkins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scheduled_checkins_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_scheduled_checkins_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scheduled_checkins_status"), ["status"], unique=False)

    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkin_time", sa.String(length=5), nullable=True))
        batch_op.add_column(
            sa.Column("daily_checkins", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_column("daily_checkins")
        batch_op.drop_column("checkin_time")

    with op.batch_alter_table("scheduled_checkins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scheduled_checkins_status"))
        batch_op.drop_index(batch_op.f("ix_scheduled_checkins_patient_id"))
        batch_op.drop_index(batch_op.f("ix_scheduled_checkins_due_at"))
    op.drop_table("scheduled_checkins")
