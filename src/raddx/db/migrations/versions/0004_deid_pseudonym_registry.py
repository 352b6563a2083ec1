"""deid: pseudonym registry and its audit trail

Issue 8: per-patient random pseudonym and date offset of a de-identification project, kept
in the index database (``deid_pseudonym``), with one audit row per lookup
(``deid_pseudonym_lookup``). See ``raddx.db.models.DeidPseudonym``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deid_pseudonym",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("patient_key", sa.String(64), nullable=False),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("date_offset_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deid_pseudonym"),
        sa.UniqueConstraint("project", "patient_key", name="uq_deid_pseudonym_project_patient_key"),
        sa.UniqueConstraint("project", "pseudonym", name="uq_deid_pseudonym_project_pseudonym"),
    )
    op.create_table(
        "deid_pseudonym_lookup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pseudonym_fk", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pseudonym_fk"],
            ["deid_pseudonym.id"],
            name="fk_deid_pseudonym_lookup_pseudonym_fk_deid_pseudonym",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deid_pseudonym_lookup"),
    )
    op.create_index(
        "ix_deid_pseudonym_lookup_pseudonym_fk", "deid_pseudonym_lookup", ["pseudonym_fk"]
    )


def downgrade() -> None:
    op.drop_index("ix_deid_pseudonym_lookup_pseudonym_fk", table_name="deid_pseudonym_lookup")
    op.drop_table("deid_pseudonym_lookup")
    op.drop_table("deid_pseudonym")
