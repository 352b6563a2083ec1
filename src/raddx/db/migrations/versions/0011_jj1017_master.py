"""RIS: the JJ1017 master table

Issue 6 §2: ``jj1017_master`` holds the hospital's JJ1017 master (JSRT files and facility
extensions imported by ``raddx jj1017 import``): code, Japanese/kana/English names, DICOM
modality, validity. See ``raddx.db.models.Jj1017MasterCode``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jj1017_master",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_kana", sa.Text(), nullable=True),
        sa.Column("name_english", sa.Text(), nullable=True),
        sa.Column("modality", sa.String(64), nullable=True),
        sa.Column("valid_from", sa.String(8), nullable=True),
        sa.Column("valid_to", sa.String(8), nullable=True),
        sa.Column("facility", sa.Boolean(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jj1017_master"),
        sa.UniqueConstraint("code", name="uq_jj1017_master_code"),
    )
    op.create_index("ix_jj1017_master_modality", "jj1017_master", ["modality"])


def downgrade() -> None:
    op.drop_table("jj1017_master")
