"""screener runs, the earlier message a risk signal built on

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "screener_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger_severity", sa.String(length=10), nullable=False),
        sa.Column("result_severity", sa.String(length=10), nullable=False),
        sa.Column("answers_enc", sa.LargeBinary(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["flag_id"], ["risk_flags.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("screener_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_screener_runs_flag_id"), ["flag_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_screener_runs_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_screener_runs_started_at"), ["started_at"], unique=False)
    with op.batch_alter_table("risk_signals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("context_message_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("risk_signals", schema=None) as batch_op:
        batch_op.drop_column("context_message_id")
    with op.batch_alter_table("screener_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_screener_runs_started_at"))
        batch_op.drop_index(batch_op.f("ix_screener_runs_patient_id"))
        batch_op.drop_index(batch_op.f("ix_screener_runs_flag_id"))
    op.drop_table("screener_runs")
