"""RIS: patients, orders, requested procedures and scheduled procedure steps

Issue 6 (RIS and scheduled workflow): ``ris_patient`` (PatientID within issuer, the three
name groups and their normalised copies for worklist matching, A40 merge link),
``ris_order`` (placer/filler numbers, accession number, priority, requester, reason, status),
``ris_requested_procedure`` (RP ID, Study Instance UID, JJ1017-32 code) and
``ris_scheduled_step`` (one Modality Worklist item each). See ``raddx.db.models.RisOrder``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ris_patient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("issuer_of_patient_id", sa.String(64), nullable=False),
        sa.Column("patient_name", sa.Text(), nullable=True),
        sa.Column("patient_name_alphabetic", sa.Text(), nullable=True),
        sa.Column("patient_name_ideographic", sa.Text(), nullable=True),
        sa.Column("patient_name_phonetic", sa.Text(), nullable=True),
        sa.Column("patient_name_alphabetic_norm", sa.Text(), nullable=True),
        sa.Column("patient_name_ideographic_norm", sa.Text(), nullable=True),
        sa.Column("patient_name_phonetic_norm", sa.Text(), nullable=True),
        sa.Column("patient_birth_date", sa.String(8), nullable=True),
        sa.Column("patient_sex", sa.String(64), nullable=True),
        sa.Column("merged_into_fk", sa.Integer(), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_into_fk"],
            ["ris_patient.id"],
            name="fk_ris_patient_merged_into_fk_ris_patient",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ris_patient"),
        sa.UniqueConstraint("patient_id", "issuer_of_patient_id", name="uq_ris_patient_patient_id"),
    )
    for column in ("patient_id", *(f"patient_name_{g}_norm" for g in _GROUPS)):
        op.create_index(f"ix_ris_patient_{column}", "ris_patient", [column])
    op.create_table(
        "ris_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_fk", sa.Integer(), nullable=False),
        sa.Column("placer_order_number", sa.String(64), nullable=True),
        sa.Column("filler_order_number", sa.String(64), nullable=False),
        sa.Column("accession_number", sa.String(64), nullable=False),
        sa.Column("requested_procedure_priority", sa.String(64), nullable=False),
        sa.Column("requesting_physician", sa.Text(), nullable=True),
        sa.Column("requesting_service", sa.Text(), nullable=True),
        sa.Column("reason_for_the_requested_procedure", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_fk"], ["ris_patient.id"], name="fk_ris_order_patient_fk_ris_patient"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ris_order"),
        sa.UniqueConstraint("filler_order_number", name="uq_ris_order_filler_order_number"),
        sa.UniqueConstraint("accession_number", name="uq_ris_order_accession_number"),
    )
    for column in ("patient_fk", "placer_order_number", "status"):
        op.create_index(f"ix_ris_order_{column}", "ris_order", [column])
    op.create_table(
        "ris_requested_procedure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_fk", sa.Integer(), nullable=False),
        sa.Column("requested_procedure_id", sa.String(64), nullable=False),
        sa.Column("study_instance_uid", sa.String(64), nullable=False),
        sa.Column("requested_procedure_description", sa.Text(), nullable=True),
        sa.Column("jj1017_code", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_fk"], ["ris_order.id"], name="fk_ris_requested_procedure_order_fk_ris_order"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ris_requested_procedure"),
        sa.UniqueConstraint(
            "requested_procedure_id", name="uq_ris_requested_procedure_requested_procedure_id"
        ),
        sa.UniqueConstraint(
            "study_instance_uid", name="uq_ris_requested_procedure_study_instance_uid"
        ),
    )
    op.create_index("ix_ris_requested_procedure_order_fk", "ris_requested_procedure", ["order_fk"])
    op.create_table(
        "ris_scheduled_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("procedure_fk", sa.Integer(), nullable=False),
        sa.Column("scheduled_procedure_step_id", sa.String(64), nullable=False),
        sa.Column("modality", sa.String(64), nullable=False),
        sa.Column("scheduled_station_ae_title", sa.String(16), nullable=True),
        sa.Column("scheduled_station_name", sa.Text(), nullable=True),
        sa.Column("scheduled_procedure_step_location", sa.Text(), nullable=True),
        sa.Column("scheduled_procedure_step_start_date", sa.String(8), nullable=False),
        sa.Column("scheduled_procedure_step_start_time", sa.String(16), nullable=False),
        sa.Column("scheduled_performing_physician_name", sa.Text(), nullable=True),
        sa.Column("scheduled_procedure_step_description", sa.Text(), nullable=True),
        sa.Column("scheduled_procedure_step_status", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["procedure_fk"],
            ["ris_requested_procedure.id"],
            name="fk_ris_scheduled_step_procedure_fk_ris_requested_procedure",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ris_scheduled_step"),
        sa.UniqueConstraint(
            "scheduled_procedure_step_id", name="uq_ris_scheduled_step_scheduled_procedure_step_id"
        ),
    )
    for column in (
        "procedure_fk",
        "modality",
        "scheduled_station_ae_title",
        "scheduled_procedure_step_start_date",
        "scheduled_procedure_step_status",
    ):
        op.create_index(f"ix_ris_scheduled_step_{column}", "ris_scheduled_step", [column])


_GROUPS = ("alphabetic", "ideographic", "phonetic")


def downgrade() -> None:
    for table in ("ris_scheduled_step", "ris_requested_procedure", "ris_order", "ris_patient"):
        op.drop_table(table)
