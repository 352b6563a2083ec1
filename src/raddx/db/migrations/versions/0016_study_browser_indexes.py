"""Study browser: sort indexes and referring physician name indexes (issue 10 §1)

The study list sorts on the server (``raddx.archive.query.ordering``): by study date and
time, patient name (normalised phonetic, alphabetic, ideographic groups), patient ID,
accession number, modalities and description, each with the row id as tie-break, ascending
``NULLS FIRST`` / descending ``NULLS LAST``. One index per order lets the first page of
100,000 studies come from an index walk instead of a sort of every match. PostgreSQL gets the
columns ``NULLS FIRST`` (its default is NULLS LAST, which would not serve that order); SQLite
sorts NULL first already and its CREATE INDEX has no NULLS clause. The referring physician's
normalised name groups get the indexes the patient's have, for the same prefix matching.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

#: name → (table, sort columns); the row id is appended to each.
SORT_INDEXES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ix_study_sort_date_time": ("study", ("study_date", "study_time")),
    "ix_study_sort_accession_number": ("study", ("accession_number",)),
    "ix_study_sort_study_description": ("study", ("study_description",)),
    "ix_study_sort_modalities_in_study": ("study", ("modalities_in_study",)),
    "ix_patient_sort_patient_name": (
        "patient",
        (
            "patient_name_phonetic_norm",
            "patient_name_alphabetic_norm",
            "patient_name_ideographic_norm",
        ),
    ),
    "ix_patient_sort_patient_id": ("patient", ("patient_id",)),
}
_REFERRING = tuple(
    f"referring_physician_name_{group}_norm" for group in ("alphabetic", "ideographic", "phonetic")
)


def upgrade() -> None:
    nulls = " NULLS FIRST" if op.get_bind().dialect.name == "postgresql" else ""
    for name, (table, columns) in SORT_INDEXES.items():
        spec = ", ".join(f"{c}{nulls}" for c in columns)
        op.execute(f"CREATE INDEX {name} ON {table} ({spec}, id)")
    for column in _REFERRING:
        op.create_index(f"ix_study_{column}", "study", [column])


def downgrade() -> None:
    for column in _REFERRING:
        op.drop_index(f"ix_study_{column}", table_name="study")
    for name, (table, _) in SORT_INDEXES.items():
        op.drop_index(name, table_name=table)
