"""reports: report versions, the studies they read, and the import quarantine

Issue 7: the canonical radiology report record (``raddx.reports``) stored as JSON per version
(``report_version``), with the keys used for listing and exchange-package selection copied
into indexed columns; ``report_study`` links a version to the studies it reads;
``report_quarantine`` keeps imported reports that matched no study. See
``raddx.db.models.ReportVersion``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("issuer_of_patient_id", sa.String(64), nullable=False),
        sa.Column("accession_number", sa.String(64), nullable=True),
        sa.Column("study_date", sa.String(8), nullable=True),
        sa.Column("modalities", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content_sha256", sa.String(64), nullable=True),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_version"),
        sa.UniqueConstraint("report_id", "version", name="uq_report_version_report_id_version"),
    )
    op.create_index("ix_report_version_status", "report_version", ["status"])
    op.create_index("ix_report_version_is_latest", "report_version", ["is_latest"])
    op.create_index("ix_report_version_patient_id", "report_version", ["patient_id"])
    op.create_index("ix_report_version_accession_number", "report_version", ["accession_number"])
    op.create_index("ix_report_version_study_date", "report_version", ["study_date"])
    op.create_table(
        "report_study",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_version_fk", sa.Integer(), nullable=False),
        sa.Column("study_instance_uid", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_version_fk"],
            ["report_version.id"],
            name="fk_report_study_report_version_fk_report_version",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_report_study"),
    )
    op.create_index("ix_report_study_report_version_fk", "report_study", ["report_version_fk"])
    op.create_index("ix_report_study_study_instance_uid", "report_study", ["study_instance_uid"])
    op.create_table(
        "report_quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_quarantine"),
    )
    op.create_index("ix_report_quarantine_report_id", "report_quarantine", ["report_id"])


def downgrade() -> None:
    op.drop_index("ix_report_quarantine_report_id", table_name="report_quarantine")
    op.drop_table("report_quarantine")
    op.drop_index("ix_report_study_study_instance_uid", table_name="report_study")
    op.drop_index("ix_report_study_report_version_fk", table_name="report_study")
    op.drop_table("report_study")
    for column in ("study_date", "accession_number", "patient_id", "is_latest", "status"):
        op.drop_index(f"ix_report_version_{column}", table_name="report_version")
    op.drop_table("report_version")
