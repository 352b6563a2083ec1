"""Outbox: messages owed to other systems (HL7 v2 over MLLP, forwarded MPPS)

Issues 6 and 7: ``outbox_message`` holds each outbound event (an order placed/changed/
cancelled, an MPPS completed or discontinued, a report signed, an MPPS to forward) and its
delivery to each configured destination, with status, attempts and the last error, so that
nothing is lost on restart. See ``raddx.db.models.OutboxMessage``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("destination", sa.String(64), nullable=True),
        sa.Column("event_fk", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("message_control_id", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_fk"],
            ["outbox_message.id"],
            name="fk_outbox_message_event_fk_outbox_message",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_message"),
    )
    for column in ("event", "subject", "destination", "event_fk", "status", "next_attempt_at"):
        op.create_index(f"ix_outbox_message_{column}", "outbox_message", [column])


def downgrade() -> None:
    op.drop_table("outbox_message")
