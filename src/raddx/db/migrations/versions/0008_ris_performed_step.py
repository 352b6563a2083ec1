"""RIS: Modality Performed Procedure Steps (MPPS)

Issue 6: ``ris_performed_step`` holds each MPPS instance received by the MPPS SCP (status,
station, start/end, the Study Instance UID and SPS IDs it referenced, the order it updated).
See ``raddx.db.models.RisPerformedStep``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ris_performed_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sop_instance_uid", sa.String(64), nullable=False),
        sa.Column("performed_procedure_step_status", sa.String(64), nullable=False),
        sa.Column("performed_procedure_step_id", sa.Text(), nullable=True),
        sa.Column("modality", sa.String(64), nullable=True),
        sa.Column("performed_station_ae_title", sa.String(16), nullable=True),
        sa.Column("performed_procedure_step_start_date", sa.String(8), nullable=True),
        sa.Column("performed_procedure_step_start_time", sa.String(16), nullable=True),
        sa.Column("performed_procedure_step_end_date", sa.String(8), nullable=True),
        sa.Column("performed_procedure_step_end_time", sa.String(16), nullable=True),
        sa.Column("study_instance_uid", sa.String(64), nullable=True),
        sa.Column("scheduled_procedure_step_ids", sa.Text(), nullable=True),
        sa.Column("order_fk", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_fk"], ["ris_order.id"], name="fk_ris_performed_step_order_fk_ris_order"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ris_performed_step"),
        sa.UniqueConstraint("sop_instance_uid", name="uq_ris_performed_step_sop_instance_uid"),
    )
    for column in ("performed_procedure_step_status", "study_instance_uid", "order_fk"):
        op.create_index(f"ix_ris_performed_step_{column}", "ris_performed_step", [column])


def downgrade() -> None:
    op.drop_table("ris_performed_step")
