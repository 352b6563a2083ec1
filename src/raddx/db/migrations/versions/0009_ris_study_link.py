"""RIS: links between orders and stored studies (reconciliation)

Issue 6 §6: ``ris_study_link`` records which order a stored study belongs to, how it was
matched (accession number, Study Instance UID, or by hand) and, for a manual reconciliation,
who did it and why. See ``raddx.db.models.RisStudyLink``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ris_study_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_instance_uid", sa.String(64), nullable=False),
        sa.Column("order_fk", sa.Integer(), nullable=False),
        sa.Column("matched_by", sa.String(16), nullable=False),
        sa.Column("linked_by", sa.String(128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_fk"], ["ris_order.id"], name="fk_ris_study_link_order_fk_ris_order"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ris_study_link"),
        sa.UniqueConstraint("study_instance_uid", name="uq_ris_study_link_study_instance_uid"),
    )
    op.create_index("ix_ris_study_link_order_fk", "ris_study_link", ["order_fk"])


def downgrade() -> None:
    op.drop_table("ris_study_link")
