"""events: a per-conversation sequence number and a session number on every row

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 00:00:00

Existing conversations are numbered in place from their clear-text columns (id order and
`type_name`), so no event is decrypted, rewritten or lost: `seq` counts a sender's events from
0, and `session_no` counts the `session_started` events seen so far (events before the first
one are session 0). Downgrading drops the two columns and leaves every event where it was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def _number_existing_events() -> None:
    conn = op.get_bind()
    events = sa.table(
        "events",
        sa.column("id", sa.Integer),
        sa.column("sender_id", sa.String),
        sa.column("type_name", sa.String),
        sa.column("seq", sa.Integer),
        sa.column("session_no", sa.Integer),
    )
    rows = conn.execute(
        sa.select(events.c.id, events.c.sender_id, events.c.type_name).order_by(
            events.c.sender_id, events.c.id
        )
    )
    update = (
        events.update()
        .where(events.c.id == sa.bindparam("row_id"))
        .values(seq=sa.bindparam("new_seq"), session_no=sa.bindparam("new_session"))
    )
    pending: list[dict] = []
    sender, seq, session = None, 0, 0
    for row_id, sender_id, type_name in rows.fetchall():
        if sender_id != sender:
            sender, seq, session = sender_id, 0, 0
        if type_name == "session_started":
            session += 1
        pending.append({"row_id": row_id, "new_seq": seq, "new_session": session})
        seq += 1
        if len(pending) >= BATCH:
            conn.execute(update, pending)
            pending = []
    if pending:
        conn.execute(update, pending)


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("session_no", sa.Integer(), nullable=True))
    _number_existing_events()
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("session_no", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint("uq_events_sender_seq", ["sender_id", "seq"])
        batch_op.create_index("ix_events_sender_session", ["sender_id", "session_no"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_sender_session")
        batch_op.drop_constraint("uq_events_sender_seq", type_="unique")
        batch_op.drop_column("session_no")
        batch_op.drop_column("seq")
