"""Security: the audit trail (append-only, hash-chained)

Issue 9: ``audit_record`` holds one DICOM PS3.15 A.5 audit message per row with its search
fields and hash-chain link; ``audit_chain_head`` the last link (seeded here with the genesis
hash). See ``raddx.db.models.AuditRecord`` and ``raddx.security.audit_log``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: The hash the first record chains to (``raddx.security.audit_log.GENESIS_HASH``).
_GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "audit_record",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(16), nullable=False),
        sa.Column("event_action_code", sa.String(1), nullable=False),
        sa.Column("event_outcome_indicator", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("patient_id", sa.String(64), nullable=True),
        sa.Column("source_id", sa.String(256), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_record"),
    )
    for column in ("event_time", "event_id", "event_outcome_indicator", "user_id", "patient_id"):
        op.create_index(f"ix_audit_record_{column}", "audit_record", [column])
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": _GENESIS}])


def downgrade() -> None:
    op.drop_table("audit_chain_head")
    op.drop_table("audit_record")
