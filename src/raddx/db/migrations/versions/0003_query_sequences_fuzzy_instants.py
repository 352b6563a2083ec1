"""query: sequence items, fuzzy name keys, UTC instants

Issue 4, the rest of the query engine:

* ``procedure_code`` and ``request_attributes``: the items of ProcedureCodeSequence (study) and
  RequestAttributesSequence (series), indexed for sequence matching (PS3.4 C.2.2.2.6). Child
  tables, not JSON, so that the item attributes get ordinary btree indexes on both databases.
* ``*_fuzzy``: fuzzy semantic matching keys of the person name groups (PS3.4 C.2.2.2.1.1),
  filled here for the rows that exist (``raddx.archive.names.fuzzy_group``).
* ``acquisition_date_time_utc`` and ``study_date_time_utc``: DT values and StudyDate+StudyTime
  as UTC instants, so DT ranges compare moments and dates of another timezone can be matched
  (PS3.4 C.2.2.2.5); filled here for existing rows.

The migration does not read blobs: objects stored before this revision have no sequence
items in the index (a re-index from the blobs, which stay the source of truth, is not built
yet; docs/conformance.md says so).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from raddx.archive.datetimes import date_time_utc, study_instant_utc
from raddx.archive.names import fuzzy_group

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_GROUPS = ("alphabetic", "ideographic", "phonetic")
_PATTERN_INDEXES = (
    (
        "ix_patient_patient_name_alphabetic_fuzzy_pattern",
        "patient",
        "patient_name_alphabetic_fuzzy",
    ),
    (
        "ix_patient_patient_name_ideographic_fuzzy_pattern",
        "patient",
        "patient_name_ideographic_fuzzy",
    ),
    ("ix_patient_patient_name_phonetic_fuzzy_pattern", "patient", "patient_name_phonetic_fuzzy"),
    ("ix_procedure_code_code_value_pattern", "procedure_code", "code_value"),
    (
        "ix_request_attributes_requested_procedure_id_pattern",
        "request_attributes",
        "requested_procedure_id",
    ),
    ("ix_request_attributes_accession_number_pattern", "request_attributes", "accession_number"),
)


def upgrade() -> None:
    op.create_table(
        "procedure_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_fk", sa.Integer(), nullable=False),
        sa.Column("code_value", sa.Text(), nullable=True),
        sa.Column("coding_scheme_designator", sa.Text(), nullable=True),
        sa.Column("coding_scheme_version", sa.Text(), nullable=True),
        sa.Column("code_meaning", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_fk"], ["study.id"], name=op.f("fk_procedure_code_study_fk_study")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedure_code")),
    )
    op.create_index(op.f("ix_procedure_code_study_fk"), "procedure_code", ["study_fk"])
    op.create_index(op.f("ix_procedure_code_code_value"), "procedure_code", ["code_value"])
    op.create_table(
        "request_attributes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_fk", sa.Integer(), nullable=False),
        sa.Column("study_fk", sa.Integer(), nullable=False),
        sa.Column("requested_procedure_id", sa.Text(), nullable=True),
        sa.Column("scheduled_procedure_step_id", sa.Text(), nullable=True),
        sa.Column("accession_number", sa.Text(), nullable=True),
        sa.Column("requested_procedure_description", sa.Text(), nullable=True),
        sa.Column("scheduled_procedure_step_description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["series_fk"], ["series.id"], name=op.f("fk_request_attributes_series_fk_series")
        ),
        sa.ForeignKeyConstraint(
            ["study_fk"], ["study.id"], name=op.f("fk_request_attributes_study_fk_study")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_attributes")),
    )
    for column in (
        "series_fk",
        "study_fk",
        "requested_procedure_id",
        "scheduled_procedure_step_id",
        "accession_number",
    ):
        op.create_index(op.f(f"ix_request_attributes_{column}"), "request_attributes", [column])

    # Plain ALTER TABLE (no batch copy): SQLite adds and drops columns in place, and a batch
    # copy of ``patient`` would trip the foreign keys that point at it.
    for group in _GROUPS:
        column = f"patient_name_{group}_fuzzy"
        op.add_column("patient", sa.Column(column, sa.Text(), nullable=True))
        op.create_index(op.f(f"ix_patient_{column}"), "patient", [column])
    for group in _GROUPS:
        column = f"referring_physician_name_{group}_fuzzy"
        op.add_column("study", sa.Column(column, sa.Text(), nullable=True))
    op.add_column("study", sa.Column("study_date_time_utc", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_study_study_date_time_utc"), "study", ["study_date_time_utc"])
    op.add_column(
        "instance", sa.Column("acquisition_date_time_utc", sa.String(length=32), nullable=True)
    )
    op.create_index(
        op.f("ix_instance_acquisition_date_time_utc"), "instance", ["acquisition_date_time_utc"]
    )

    _backfill()
    if op.get_bind().dialect.name == "postgresql":
        # Prefix wildcards under a non-C collation need pattern-ops indexes (see 0002).
        for name, table, column in _PATTERN_INDEXES:
            op.create_index(name, table, [column], postgresql_ops={column: "text_pattern_ops"})


def _backfill() -> None:
    """Fill the new derived columns of existing rows (Python computes them, as ingest does)."""
    bind = op.get_bind()
    patient = sa.table(
        "patient",
        sa.column("id"),
        *(sa.column(f"patient_name_{g}") for g in _GROUPS),
        *(sa.column(f"patient_name_{g}_fuzzy") for g in _GROUPS),
    )
    for row in bind.execute(sa.select(patient)).mappings().all():
        values = {f"patient_name_{g}_fuzzy": fuzzy_group(row[f"patient_name_{g}"]) for g in _GROUPS}
        bind.execute(sa.update(patient).where(patient.c.id == row["id"]).values(**values))
    study = sa.table(
        "study",
        sa.column("id"),
        sa.column("study_date"),
        sa.column("study_time"),
        sa.column("timezone_offset_from_utc"),
        sa.column("study_date_time_utc"),
        *(sa.column(f"referring_physician_name_{g}") for g in _GROUPS),
        *(sa.column(f"referring_physician_name_{g}_fuzzy") for g in _GROUPS),
    )
    offsets: dict[int, str | None] = {}
    for row in bind.execute(sa.select(study)).mappings().all():
        offsets[row["id"]] = row["timezone_offset_from_utc"]
        values = {
            f"referring_physician_name_{g}_fuzzy": fuzzy_group(row[f"referring_physician_name_{g}"])
            for g in _GROUPS
        }
        values["study_date_time_utc"] = study_instant_utc(
            row["study_date"], row["study_time"], row["timezone_offset_from_utc"]
        )
        bind.execute(sa.update(study).where(study.c.id == row["id"]).values(**values))
    instance = sa.table(
        "instance",
        sa.column("id"),
        sa.column("series_fk"),
        sa.column("acquisition_date_time"),
        sa.column("acquisition_date_time_utc"),
    )
    series = sa.table("series", sa.column("id"), sa.column("study_fk"))
    rows = bind.execute(
        sa.select(instance.c.id, instance.c.acquisition_date_time, series.c.study_fk)
        .join(series, series.c.id == instance.c.series_fk)
        .where(instance.c.acquisition_date_time.is_not(None))
    ).all()
    for instance_id, value, study_fk in rows:
        utc = date_time_utc(value, offsets.get(study_fk))
        bind.execute(
            sa.update(instance)
            .where(instance.c.id == instance_id)
            .values(acquisition_date_time_utc=utc)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, _ in _PATTERN_INDEXES:
            op.drop_index(name, table_name=table)
    op.drop_index(op.f("ix_instance_acquisition_date_time_utc"), table_name="instance")
    op.drop_column("instance", "acquisition_date_time_utc")
    op.drop_index(op.f("ix_study_study_date_time_utc"), table_name="study")
    op.drop_column("study", "study_date_time_utc")
    for group in _GROUPS:
        op.drop_column("study", f"referring_physician_name_{group}_fuzzy")
        op.drop_index(op.f(f"ix_patient_patient_name_{group}_fuzzy"), table_name="patient")
        op.drop_column("patient", f"patient_name_{group}_fuzzy")
    op.drop_table("request_attributes")
    op.drop_table("procedure_code")
