"""patient requests: data deletion, data export, a word with the therapist

Revision ID: 0014
Revises: 0010
Create Date: 2026-11-30 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "patient_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("patient_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_requests_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_patient_requests_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("patient_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_requests_status"))
        batch_op.drop_index(batch_op.f("ix_patient_requests_patient_id"))
    op.drop_table("patient_requests")
