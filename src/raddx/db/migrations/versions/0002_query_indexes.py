"""query indexes: pattern-ops indexes for prefix wildcards on PostgreSQL

C-FIND and QIDO-RS wildcards (``Yamada*``, ``ACC12*``) become ``LIKE 'prefix%'``. PostgreSQL can
serve that from a btree index only when the index compares bytes: under a non-C collation
(``C.UTF-8`` and ``en_US.UTF-8`` included) the plain indexes of 0001 are not used and the query
scans. ``text_pattern_ops`` indexes fix that for the keys issue 4 names (PatientID,
AccessionNumber, the three normalised PatientName groups). SQLite needs nothing: its GLOB uses the
0001 indexes (see ``raddx.archive.query.matching``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_patient_patient_id_pattern", "patient", "patient_id"),
    ("ix_patient_patient_name_alphabetic_norm_pattern", "patient", "patient_name_alphabetic_norm"),
    (
        "ix_patient_patient_name_ideographic_norm_pattern",
        "patient",
        "patient_name_ideographic_norm",
    ),
    ("ix_patient_patient_name_phonetic_norm_pattern", "patient", "patient_name_phonetic_norm"),
    ("ix_study_accession_number_pattern", "study", "accession_number"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, column in _INDEXES:
        op.create_index(name, table, [column], postgresql_ops={column: "text_pattern_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, _ in _INDEXES:
        op.drop_index(name, table_name=table)
