"""The index: Patient → Study → Series → Instance.

Each level carries the attributes PS3.4 C.6.1.1 / C.6.2.1 (Patient Root and Study Root
Query/Retrieve information models) list as Required or Unique keys at that level, plus the
commonly queried optional ones and the computed ones (counts, ModalitiesInStudy, sizes).

Conventions (ARCHITECTURE.md "Storage and index"):

* Columns are the snake_case DICOM keyword.
* Text is kept *verbatim* (decoded to Unicode from the instance's Specific Character Set) for
  answers. Person names additionally keep their three component groups (alphabetic, ideographic,
  phonetic; PS3.5 6.2.1.2) and a normalised copy of each group for matching
  (``raddx.archive.names``).
* DA/TM/DT are stored normalised (``YYYYMMDD``, ``HHMMSS.ffffff``) so that range matching is a
  string comparison; values we could not parse are left NULL (the blob keeps the original).
* Nothing here is PostgreSQL- or SQLite-specific: the same models and migrations run on both.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AuditChainHead",
    "AuditRecord",
    "Base",
    "DeidPseudonym",
    "DeidPseudonymLookup",
    "Instance",
    "Jj1017MasterCode",
    "Job",
    "OutboxMessage",
    "Patient",
    "ProcedureCode",
    "PurgePending",
    "RemoteAEEntry",
    "ReportQuarantine",
    "ReportStudy",
    "ReportVersion",
    "RequestAttributes",
    "RisOrder",
    "RisPatient",
    "RisPerformedStep",
    "RisRequestedProcedure",
    "RisScheduledStep",
    "RisStudyLink",
    "SecurityApiToken",
    "SecurityPasswordHistory",
    "SecurityRecoveryCode",
    "SecuritySession",
    "SecurityUser",
    "Series",
    "Study",
]

# VR-sized column types, declared once (STYLE rule 9). Sizes follow PS3.5 Table 6.2-1 where we
# validate or normalise the value before it reaches the index; free text is unbounded because
# real modalities overrun LO/SH limits and the index must never refuse what the blob keeps.
UI = Annotated[str, "UI"]
CS = Annotated[str, "CS"]
DA = Annotated[str, "DA"]
TM = Annotated[str, "TM"]
DT = Annotated[str, "DT"]

# Naming convention so that constraint names are identical on SQLite and PostgreSQL and
# alembic migrations can refer to them.
_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (UTC).

    PostgreSQL's ``timestamptz`` does this by itself; SQLite keeps no offset and gave back
    naive values, so every reader had to remember ``replace(tzinfo=UTC)`` (and an aware
    non-UTC value was stored with its local digits). One type, every ``datetime`` column."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(dt.UTC)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        UI: String(64),
        CS: String(64),
        DA: String(8),
        TM: String(16),
        DT: String(32),
        str: Text(),
        dt.datetime: UtcDateTime(),
    }


class Patient(Base):
    """PS3.4 C.6.1.1.2: PatientName (R), PatientID (U), plus optional keys.

    A patient is identified by PatientID within IssuerOfPatientID ('' when absent, so that the
    unique constraint also holds on databases that treat NULLs as distinct).
    """

    __tablename__ = "patient"
    __table_args__ = (UniqueConstraint("patient_id", "issuer_of_patient_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(index=True)
    issuer_of_patient_id: Mapped[str] = mapped_column(default="")
    patient_name: Mapped[str | None]
    patient_name_alphabetic: Mapped[str | None]
    patient_name_ideographic: Mapped[str | None]
    patient_name_phonetic: Mapped[str | None]
    patient_name_alphabetic_norm: Mapped[str | None] = mapped_column(index=True)
    patient_name_ideographic_norm: Mapped[str | None] = mapped_column(index=True)
    patient_name_phonetic_norm: Mapped[str | None] = mapped_column(index=True)
    #: Fuzzy keys of the three groups (``raddx.archive.names.fuzzy_group``), written when the
    #: patient row is written (not per object), read by fuzzy semantic matching only.
    patient_name_alphabetic_fuzzy: Mapped[str | None] = mapped_column(index=True)
    patient_name_ideographic_fuzzy: Mapped[str | None] = mapped_column(index=True)
    patient_name_phonetic_fuzzy: Mapped[str | None] = mapped_column(index=True)
    patient_birth_date: Mapped[DA | None]
    patient_birth_time: Mapped[TM | None]
    patient_sex: Mapped[CS | None]
    other_patient_ids: Mapped[str | None]
    ethnic_group: Mapped[str | None]
    patient_comments: Mapped[str | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    #: Soft delete (``raddx.archive.deletion``): set when the patient's last study is deleted.
    deleted_at: Mapped[dt.datetime | None]


class Study(Base):
    """PS3.4 C.6.2.1.2: StudyDate, StudyTime, AccessionNumber, StudyID (R), StudyInstanceUID (U).

    ``patient_conflict`` is set when an instance of this study carried patient attributes that
    differ from the stored patient (same PatientID, other name or birth date; or a known study
    arriving under another PatientID). The instance is stored, the study is flagged, nothing is
    merged: a person must decide (issue 3, ingest rule).
    """

    __tablename__ = "study"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_instance_uid: Mapped[UI] = mapped_column(unique=True)
    patient_fk: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    study_date: Mapped[DA | None] = mapped_column(index=True)
    study_time: Mapped[TM | None]
    accession_number: Mapped[str | None] = mapped_column(index=True)
    #: IssuerOfAccessionNumberSequence of the study's first object, as
    #: ``local^universal^type`` (raddx.ris.accession_issuer), compared on reconciliation.
    issuer_of_accession_number: Mapped[str | None] = mapped_column(String(200))
    study_id: Mapped[str | None]
    study_description: Mapped[str | None]
    referring_physician_name: Mapped[str | None]
    referring_physician_name_alphabetic: Mapped[str | None]
    referring_physician_name_ideographic: Mapped[str | None]
    referring_physician_name_phonetic: Mapped[str | None]
    referring_physician_name_alphabetic_norm: Mapped[str | None] = mapped_column(index=True)
    referring_physician_name_ideographic_norm: Mapped[str | None] = mapped_column(index=True)
    referring_physician_name_phonetic_norm: Mapped[str | None] = mapped_column(index=True)
    referring_physician_name_alphabetic_fuzzy: Mapped[str | None]
    referring_physician_name_ideographic_fuzzy: Mapped[str | None]
    referring_physician_name_phonetic_fuzzy: Mapped[str | None]
    patient_age: Mapped[str | None]
    patient_size: Mapped[str | None]
    patient_weight: Mapped[str | None]
    timezone_offset_from_utc: Mapped[str | None]
    #: StudyDate + StudyTime as a UTC instant in the study's TimezoneOffsetFromUTC
    #: (``raddx.archive.datetimes``), for queries whose dates are in another timezone.
    study_date_time_utc: Mapped[DT | None] = mapped_column(index=True)
    institution_name: Mapped[str | None]
    #: Computed (PS3.4 C.6.2.1.2 optional keys), maintained on ingest; backslash-separated.
    modalities_in_study: Mapped[str] = mapped_column(default="")
    sop_classes_in_study: Mapped[str] = mapped_column(default="")
    number_of_study_related_series: Mapped[int] = mapped_column(Integer, default=0)
    number_of_study_related_instances: Mapped[int] = mapped_column(Integer, default=0)
    study_size: Mapped[int] = mapped_column(BigInteger, default=0)
    specific_character_set: Mapped[str | None]
    patient_conflict: Mapped[bool] = mapped_column(Boolean, default=False)
    patient_conflict_detail: Mapped[str | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    #: Soft delete (``raddx.archive.deletion``): hidden from every door until restored or
    #: purged; its series and instances carry the mark too.
    deleted_at: Mapped[dt.datetime | None]
    # The sort indexes of the study browser (``raddx.archive.query.ordering``) are created
    # by migration 0016 only: on PostgreSQL they are built NULLS FIRST, which SQLite's CREATE
    # INDEX cannot say, so they are not declared here.


class Series(Base):
    """PS3.4 C.6.2.1.2 series level: Modality, SeriesNumber (R), SeriesInstanceUID (U)."""

    __tablename__ = "series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_instance_uid: Mapped[UI] = mapped_column(unique=True)
    study_fk: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    modality: Mapped[CS | None] = mapped_column(index=True)
    series_number: Mapped[int | None] = mapped_column(Integer)
    series_description: Mapped[str | None]
    series_date: Mapped[DA | None]
    series_time: Mapped[TM | None]
    body_part_examined: Mapped[CS | None]
    laterality: Mapped[CS | None]
    protocol_name: Mapped[str | None]
    station_name: Mapped[str | None]
    manufacturer: Mapped[str | None]
    performed_procedure_step_start_date: Mapped[DA | None]
    performed_procedure_step_start_time: Mapped[TM | None]
    number_of_series_related_instances: Mapped[int] = mapped_column(Integer, default=0)
    series_size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    #: Soft delete (``raddx.archive.deletion``); its instances carry the mark too.
    deleted_at: Mapped[dt.datetime | None]


class Instance(Base):
    """PS3.4 C.6.2.1.2 image level: InstanceNumber (R), SOPInstanceUID (U), SOPClassUID.

    Besides the query keys it records where the bytes are (``blob_key``, ``size``, ``sha256``),
    how they arrived (transfer syntax, character set, calling/called AE, ``received_at``) and
    how often they were replaced by different bytes under the same UID.
    """

    __tablename__ = "instance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sop_instance_uid: Mapped[UI] = mapped_column(unique=True)
    series_fk: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    sop_class_uid: Mapped[UI]
    instance_number: Mapped[int | None] = mapped_column(Integer)
    content_date: Mapped[DA | None]
    content_time: Mapped[TM | None]
    acquisition_date_time: Mapped[DT | None]
    #: The same instant in UTC (``YYYYMMDDHHMMSS.ffffff``, as far as the value is precise),
    #: so that DT ranges compare instants, not text (PS3.4 C.2.2.2.5, PS3.5 6.2 DT offsets).
    acquisition_date_time_utc: Mapped[DT | None] = mapped_column(index=True)
    number_of_frames: Mapped[int | None] = mapped_column(Integer)
    rows: Mapped[int | None] = mapped_column(Integer)
    columns: Mapped[int | None] = mapped_column(Integer)
    transfer_syntax_uid: Mapped[UI]
    specific_character_set: Mapped[str | None]
    blob_key: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime]
    calling_ae_title: Mapped[str | None] = mapped_column(String(16))
    called_ae_title: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    replaced_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Soft delete (``raddx.archive.deletion``): when it was hidden; purge removes it later.
    deleted_at: Mapped[dt.datetime | None]


Index("ix_instance_blob_key", Instance.blob_key)
#: Partial: only soft-deleted instances are in it, so ingest (NULL) never pays for it and
#: purge finds its rows without a table scan.
Index(
    "ix_instance_deleted_at",
    Instance.deleted_at,
    sqlite_where=Instance.deleted_at.is_not(None),
    postgresql_where=Instance.deleted_at.is_not(None),
)


class PurgePending(Base):
    """A blob whose instance a purge removed from the index, still to be deleted
    (``raddx.archive.deletion.purge``). Written in the purge's transaction and removed once
    the blob is gone, so a purge interrupted between commit and blob deletion is finished
    later, and the sweep deletes the blob instead of re-indexing it as a lost object."""

    __tablename__ = "purge_pending"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    blob_key: Mapped[str] = mapped_column(String(200), index=True)
    purged_at: Mapped[dt.datetime]


class RemoteAEEntry(Base):
    """A remote AE added at runtime (REST API), beside those of the ``remote_aes`` setting
    (``raddx.remotes``). Titles are unique across both."""

    __tablename__ = "remote_ae"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)
    host: Mapped[str]
    port: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(default="")
    created_at: Mapped[dt.datetime]


class Job(Base):
    """A background job (``raddx.jobs``): send to or retrieve from a remote AE.

    Kept in the index so its outcome survives a restart; ``state`` is queued, running,
    done, failed or interrupted (running when the process ended). ``request`` is the job's
    parameters as JSON; the counts are sub-operations (instances).
    """

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    remote_ae_title: Mapped[str] = mapped_column(String(16))
    request: Mapped[str]
    total: Mapped[int | None] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    warning: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None]
    created_at: Mapped[dt.datetime]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class ProcedureCode(Base):
    """One item of a study's ProcedureCodeSequence (0008,1032), for sequence matching
    (PS3.4 C.2.2.2.6) and for returning the sequence.

    A child table rather than a JSON column: the item attributes get ordinary indexes on
    SQLite and PostgreSQL alike, and a study without the sequence costs no row at all.
    """

    __tablename__ = "procedure_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_fk: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    code_value: Mapped[str | None] = mapped_column(index=True)
    coding_scheme_designator: Mapped[str | None]
    coding_scheme_version: Mapped[str | None]
    code_meaning: Mapped[str | None]


class RequestAttributes(Base):
    """One item of a series' RequestAttributesSequence (0040,0275): the order (requested
    procedure, scheduled step, accession) the series was acquired for (PS3.3 C.7.3.1,
    C.4.10). ``study_fk`` is kept beside ``series_fk`` so a study-level query finds the
    study of a requested procedure with one indexed lookup.
    """

    __tablename__ = "request_attributes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_fk: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    study_fk: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    requested_procedure_id: Mapped[str | None] = mapped_column(index=True)
    scheduled_procedure_step_id: Mapped[str | None] = mapped_column(index=True)
    accession_number: Mapped[str | None] = mapped_column(index=True)
    requested_procedure_description: Mapped[str | None]
    scheduled_procedure_step_description: Mapped[str | None]


class DeidPseudonym(Base):
    """One patient's pseudonym and date offset in one de-identification project: the
    correspondence table (対応表, 削除情報等) of APPI 仮名加工情報 (``raddx.deid.registry``).

    The patient is not stored in clear: ``patient_key`` is the HMAC-SHA-256 of
    (IssuerOfPatientID, PatientID) under the project key, so the table alone links nothing
    back; with the key, a known patient's row can be found. ``pseudonym`` and
    ``date_offset_days`` are random, drawn when the patient is first seen; with a registry key
    they and the identity are sealed in ``sealed``. ``project`` is the project key's
    fingerprint.
    """

    __tablename__ = "deid_pseudonym"
    __table_args__ = (
        UniqueConstraint("project", "patient_key", name="uq_deid_pseudonym_project_patient_key"),
        UniqueConstraint("project", "pseudonym", name="uq_deid_pseudonym_project_pseudonym"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(64))
    patient_key: Mapped[str] = mapped_column(String(64))
    #: The pseudonym, or (sealed rows) the HMAC of the pseudonym under the project key.
    pseudonym: Mapped[str] = mapped_column(String(64))
    #: NULL in sealed rows (the offset is inside ``sealed``).
    date_offset_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime]
    #: AES-256-GCM of the identity, pseudonym and offset under the registry key
    #: (``raddx.deid.seal``; migration 0015); NULL in rows written without a registry key.
    sealed: Mapped[str | None] = mapped_column(Text, nullable=True)


class DeidPseudonymLookup(Base):
    """The audit trail of the registry: one row per lookup (who, when, created or read)."""

    __tablename__ = "deid_pseudonym_lookup"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym_fk: Mapped[int] = mapped_column(ForeignKey("deid_pseudonym.id"), index=True)
    event: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[dt.datetime]


class ReportVersion(Base):
    """One version of one radiology report (``raddx.reports``; issue 7).

    ``record`` is the canonical record as JSON (``raddx.reports.record``), the source of truth
    for every format; the other columns are copies of its keys for listing and selection.
    A signed version (final/amended/corrected) is never updated: a change is a new row with a
    higher ``version`` and ``content_sha256`` is the SHA-256 signed over ``record``'s content.
    ``is_latest`` marks the newest version of each ``report_id`` (one row per report).
    """

    __tablename__ = "report_version"
    __table_args__ = (
        UniqueConstraint("report_id", "version", name="uq_report_version_report_id_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), index=True)
    is_latest: Mapped[bool] = mapped_column(Boolean, index=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    issuer_of_patient_id: Mapped[str] = mapped_column(String(64), default="")
    accession_number: Mapped[str | None] = mapped_column(String(64), index=True)
    study_date: Mapped[DA | None] = mapped_column(index=True)
    modalities: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime]
    verified_at: Mapped[dt.datetime | None]
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    record: Mapped[str]
    stored_at: Mapped[dt.datetime]


#: Partial unique: one latest version per report, enforced by the database (migration 0017):
#: two writers storing new versions of one report at once cannot both flag theirs latest.
Index(
    "uq_report_version_latest",
    ReportVersion.report_id,
    unique=True,
    sqlite_where=ReportVersion.is_latest,
    postgresql_where=ReportVersion.is_latest,
)


class ReportStudy(Base):
    """A study a report version reads (a report may cover several: §5.1 ``studies[]``)."""

    __tablename__ = "report_study"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_version_fk: Mapped[int] = mapped_column(ForeignKey("report_version.id"), index=True)
    study_instance_uid: Mapped[UI] = mapped_column(index=True)


class ReportQuarantine(Base):
    """An imported report that matched no study in the archive: kept, not lost, until a person
    links it (issue 7, "quarantine, not loss")."""

    __tablename__ = "report_quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str]
    source: Mapped[str]
    record: Mapped[str]
    received_at: Mapped[dt.datetime]


class RisPatient(Base):
    """A patient as the RIS knows it from HL7 ADT/orders (``raddx.ris``; issue 6).

    Kept apart from the archive's :class:`Patient` (which ingest owns and which exists only
    once images arrive) and linked to it by the same identity: PatientID within
    IssuerOfPatientID. ``merged_into_fk`` records an ADT^A40 merge: the row stays (history),
    its orders move to the surviving patient.
    """

    __tablename__ = "ris_patient"
    __table_args__ = (UniqueConstraint("patient_id", "issuer_of_patient_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    issuer_of_patient_id: Mapped[str] = mapped_column(String(64), default="")
    patient_name: Mapped[str | None]
    patient_name_alphabetic: Mapped[str | None]
    patient_name_ideographic: Mapped[str | None]
    patient_name_phonetic: Mapped[str | None]
    patient_name_alphabetic_norm: Mapped[str | None] = mapped_column(index=True)
    patient_name_ideographic_norm: Mapped[str | None] = mapped_column(index=True)
    patient_name_phonetic_norm: Mapped[str | None] = mapped_column(index=True)
    patient_birth_date: Mapped[DA | None]
    patient_sex: Mapped[CS | None]
    merged_into_fk: Mapped[int | None] = mapped_column(ForeignKey("ris_patient.id"))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class RisOrder(Base):
    """An imaging service request (HL7 ORC/OBR): one per placer order, with its status."""

    __tablename__ = "ris_order"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_fk: Mapped[int] = mapped_column(ForeignKey("ris_patient.id"), index=True)
    placer_order_number: Mapped[str | None] = mapped_column(String(64), index=True)
    filler_order_number: Mapped[str] = mapped_column(String(64), unique=True)
    accession_number: Mapped[str] = mapped_column(String(64), unique=True)
    #: The accession number's issuer (HL7 IPC-1 components 2–4) as ``local^universal^type``
    #: (raddx.ris.accession_issuer); ``None`` when the order names none.
    issuer_of_accession_number: Mapped[str | None] = mapped_column(String(200))
    requested_procedure_priority: Mapped[CS]
    requesting_physician: Mapped[str | None]
    requesting_service: Mapped[str | None]
    reason_for_the_requested_procedure: Mapped[str | None]
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class RisRequestedProcedure(Base):
    """A requested procedure of an order (one per JAHIS child OBR), with its study UID."""

    __tablename__ = "ris_requested_procedure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_fk: Mapped[int] = mapped_column(ForeignKey("ris_order.id"), index=True)
    requested_procedure_id: Mapped[str] = mapped_column(String(64), unique=True)
    study_instance_uid: Mapped[UI] = mapped_column(unique=True)
    requested_procedure_description: Mapped[str | None]
    #: The full JJ1017-32 code (``raddx.ris.jj1017``); never stored truncated.
    jj1017_code: Mapped[str | None] = mapped_column(String(32))


class RisScheduledStep(Base):
    """A scheduled procedure step: one Modality Worklist item (PS3.4 K.6.1)."""

    __tablename__ = "ris_scheduled_step"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_fk: Mapped[int] = mapped_column(ForeignKey("ris_requested_procedure.id"), index=True)
    scheduled_procedure_step_id: Mapped[str] = mapped_column(String(64), unique=True)
    modality: Mapped[CS] = mapped_column(index=True)
    scheduled_station_ae_title: Mapped[str | None] = mapped_column(String(16), index=True)
    scheduled_station_name: Mapped[str | None]
    scheduled_procedure_step_location: Mapped[str | None]
    scheduled_procedure_step_start_date: Mapped[DA] = mapped_column(index=True)
    scheduled_procedure_step_start_time: Mapped[TM]
    scheduled_performing_physician_name: Mapped[str | None]
    scheduled_procedure_step_description: Mapped[str | None]
    scheduled_procedure_step_status: Mapped[CS] = mapped_column(index=True)


class RisPerformedStep(Base):
    """A Modality Performed Procedure Step (PS3.4 F.7) received by the MPPS SCP.

    ``scheduled_procedure_step_ids`` are the SPS IDs the step's Scheduled Step Attributes
    Sequence referenced (``\\``-joined); ``order_fk`` the order it was linked to, if any
    (an unscheduled step has none).
    """

    __tablename__ = "ris_performed_step"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sop_instance_uid: Mapped[UI] = mapped_column(unique=True)
    performed_procedure_step_status: Mapped[CS] = mapped_column(index=True)
    performed_procedure_step_id: Mapped[str | None]
    modality: Mapped[CS | None]
    performed_station_ae_title: Mapped[str | None] = mapped_column(String(16))
    performed_procedure_step_start_date: Mapped[DA | None]
    performed_procedure_step_start_time: Mapped[TM | None]
    performed_procedure_step_end_date: Mapped[DA | None]
    performed_procedure_step_end_time: Mapped[TM | None]
    study_instance_uid: Mapped[UI | None] = mapped_column(index=True)
    scheduled_procedure_step_ids: Mapped[str | None]
    #: Items of the PerformedSeriesSequence last created or set: PS3.4 F.7.2.2.2 wants at
    #: least one when the step ends (Table F.7.2-1 "Final State").
    performed_series_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    order_fk: Mapped[int | None] = mapped_column(ForeignKey("ris_order.id"), index=True)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class RisStudyLink(Base):
    """The link between an order and a stored study (``raddx.ris.reconcile``; issue 6 §6).

    Written when a study's first object arrives and its AccessionNumber or StudyInstanceUID
    names an order (``matched_by`` ``ACCESSION`` / ``STUDY_UID``), or when a person reconciles
    an unmatched study (``MANUAL``, with ``linked_by`` and ``reason``). A study without a row
    here is *unmatched*. Keyed by the Study Instance UID, not the archive's row id, so the
    link survives a purge and re-import of the same study.
    """

    __tablename__ = "ris_study_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_instance_uid: Mapped[UI] = mapped_column(unique=True)
    order_fk: Mapped[int] = mapped_column(ForeignKey("ris_order.id"), index=True)
    matched_by: Mapped[str] = mapped_column(String(16))
    linked_by: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None]
    linked_at: Mapped[dt.datetime]


class Jj1017MasterCode(Base):
    """One row of the hospital's JJ1017 master (``raddx jj1017 import``; issue 6 §2).

    No openly licensed JJ1017 master exists, so the hospital imports its JSRT master files
    and its own facility extensions (modality code P–Y); orders resolve a code's name here.
    ``valid_from``/``valid_to`` (DA, inclusive) bound when the code may be ordered.
    """

    __tablename__ = "jj1017_master"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The full JJ1017-32 code (``raddx.ris.jj1017.Jj1017Code``).
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str]
    name_kana: Mapped[str | None]
    name_english: Mapped[str | None]
    #: The DICOM Modality (CT, MR…) of the worklist item ordered with this code.
    modality: Mapped[CS | None] = mapped_column(index=True)
    valid_from: Mapped[DA | None]
    valid_to: Mapped[DA | None]
    #: A facility extension (modality position P–Y), not a JSRT code.
    facility: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str | None]
    updated_at: Mapped[dt.datetime]


class OutboxMessage(Base):
    """A message raddx owes another system (``raddx.outbox``): HL7 v2 over MLLP (OMI^O23,
    OMI^Z23, ORU^R01) or a forwarded MPPS (N-CREATE/N-SET).

    Written in the same unit of work as the change it announces (an order placed, an MPPS
    completed, a report signed), so nothing is announced that did not happen and nothing that
    happened is lost on a crash or restart. A row with no ``destination`` is the *event*; the
    outbound worker routes it to each configured destination that takes that kind of message
    (one delivery row each, ``event_fk`` pointing back) and marks it ``routed``. A delivery is
    ``pending`` until the peer acknowledges (``sent``) or refuses it (``failed`` with
    ``last_error``); an unreachable peer leaves it ``pending`` with a later ``next_attempt_at``.
    """

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: What it announces: ``omi`` | ``z23`` | ``oru`` | ``mpps``.
    event: Mapped[str] = mapped_column(String(16), index=True)
    #: The accession number, report id:version or MPPS SOP Instance UID it is about.
    subject: Mapped[str] = mapped_column(String(128), index=True)
    #: ORC-1 (NW/XO/CA), the MPPS status, the report status, or the DIMSE operation.
    action: Mapped[str] = mapped_column(String(32))
    #: What the event must remember beyond the subject (JSON), e.g. the MPPS dataset.
    detail: Mapped[str | None]
    destination: Mapped[str | None] = mapped_column(String(64), index=True)
    event_fk: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: The exact bytes sent (an encoded HL7 message, or the MPPS dataset as DICOM JSON).
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    message_control_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(index=True)
    last_error: Mapped[str | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]


class SecurityUser(Base):
    """A person who logs in (issue 9): Argon2id password hash, role, lockout and TOTP state.

    ``totp_last_step`` is the RFC 6238 time step of the last accepted code: a code of that
    step or an earlier one is refused (replay protection, RFC 6238 5.2).
    """

    __tablename__ = "security_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None]
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime]
    password_changed_at: Mapped[dt.datetime]
    #: The person's name as a DICOM PN value with its groups
    #: (``Tanaka^Taro=田中^太郎=たなか^たろう``), written as author/verifier of reports;
    #: ``None``: the login name is used (migration 0019).
    display_name: Mapped[str | None] = mapped_column(String(200))


class SecurityPasswordHistory(Base):
    """Earlier password hashes of a user, for the reuse ban (MHLW guideline 7.0)."""

    __tablename__ = "security_password_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_fk: Mapped[int] = mapped_column(ForeignKey("security_user.id"), index=True)
    password_hash: Mapped[str]
    created_at: Mapped[dt.datetime]


class SecurityRecoveryCode(Base):
    """A one-time 2FA recovery code, stored as its SHA-256 (hex)."""

    __tablename__ = "security_recovery_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_fk: Mapped[int] = mapped_column(ForeignKey("security_user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None]


class SecurityApiToken(Base):
    """An API token for a machine client, stored as the SHA-256 (hex) of its text; the text
    is shown once, when it is created."""

    __tablename__ = "security_api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class SecuritySession(Base):
    """A browser session (cookie), stored as the SHA-256 (hex) of the cookie value; ends at
    ``ended_at`` (logout), after the idle timeout or after the absolute lifetime."""

    __tablename__ = "security_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_fk: Mapped[int] = mapped_column(ForeignKey("security_user.id"), index=True)
    host: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    #: Break-glass (emergency override): elevated until then, for the reason given.
    break_glass_until: Mapped[dt.datetime | None]
    break_glass_reason: Mapped[str | None]


class AuditRecord(Base):
    """One audit message (issue 9; ``raddx.security.audit_log``): append-only, hash-chained.

    ``xml`` is the DICOM PS3.15 A.5 message; the other columns are copies of its fields for
    searching. ``hash`` is SHA-256 over ``prev_hash`` and the canonical row, so editing or
    deleting a row breaks the chain (``raddx audit verify``). ``seq`` numbers rows without gaps.
    """

    __tablename__ = "audit_record"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_time: Mapped[dt.datetime] = mapped_column(index=True)
    event_id: Mapped[str] = mapped_column(String(16), index=True)
    event_action_code: Mapped[str] = mapped_column(String(1))
    event_outcome_indicator: Mapped[int] = mapped_column(Integer, index=True)
    user_id: Mapped[str | None] = mapped_column(String(256), index=True)
    patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    source_id: Mapped[str] = mapped_column(String(256))
    xml: Mapped[str]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The last link of the audit chain (one row, id 1): writers lock it to append in order,
    and ``raddx audit verify`` compares it with the last row, so deleting the newest rows
    is detected too."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
