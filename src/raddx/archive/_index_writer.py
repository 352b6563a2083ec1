"""File one validated object into the index: patient, study, series, instance and counters.

Runs inside the caller's transaction on a Core connection, with statements built once (bound
parameters, so SQLAlchemy compiles each a single time) instead of ORM unit-of-work objects:
ingest is the hottest path of the archive, and building statements with literal values per
call cost more than the SQL itself (profiled: ~1.8 ms of a ~4 ms ingest went to SQLAlchemy
statement construction and cache-key generation).

Locking: the instance and study rows are read ``FOR UPDATE`` (PostgreSQL; SQLite already
holds its database write lock from ``BEGIN IMMEDIATE``), so counters and the
ModalitiesInStudy set are changed by one transaction at a time.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, insert, null, select, update

from raddx.archive._executor import Executor, Row
from raddx.archive.datetimes import study_instant_utc
from raddx.archive.header import HeaderRecord
from raddx.archive.names import fuzzy_group, normalize_group
from raddx.config import DuplicatePolicyValues
from raddx.db.models import Instance, Patient, ProcedureCode, RequestAttributes, Series, Study
from raddx.errors import Conflict

__all__ = ["Filed", "file_instance", "refresh_items", "reject_message"]

_GROUPS = ("alphabetic", "ideographic", "phonetic")
_PROCEDURE_CODE_COLUMNS = (
    "code_value",
    "coding_scheme_designator",
    "coding_scheme_version",
    "code_meaning",
)
_REQUEST_ATTRIBUTES_COLUMNS = (
    "requested_procedure_id",
    "scheduled_procedure_step_id",
    "accession_number",
    "requested_procedure_description",
    "scheduled_procedure_step_description",
)

_PATIENT_CHECKED = (
    ("patient_name", "PatientName"),
    ("patient_birth_date", "PatientBirthDate"),
    ("patient_sex", "PatientSex"),
)


@dataclass(slots=True)
class Filed:
    """What :func:`file_instance` did."""

    duplicate: bool = False
    replaced: bool = False
    patient_conflict: bool = False
    #: The object is the first of its study: the study row was just created (a revived
    #: soft-deleted study keeps its SOP classes, and its order link, so it is not new).
    new_study: bool = False
    conflicts: list[str] = field(default_factory=list)
    #: Blob keys no longer referenced once the transaction commits.
    superseded: list[str] = field(default_factory=list)


def reject_message(sop_instance_uid: str) -> str:
    """The refusal text for the ``reject`` duplicate policy."""
    return (
        f"SOP Instance UID {sop_instance_uid} is already stored with different content and "
        f"the duplicate policy is 'reject'"
    )


class _Statements:
    """Every statement of the ingest path, built once with bound parameters."""

    def __init__(self) -> None:
        b = bindparam
        self.instance_by_uid = (
            select(
                Instance.id,
                Instance.sha256,
                Instance.blob_key,
                Instance.series_fk,
                Instance.size,
                Instance.replaced_count,
                Instance.deleted_at,
            )
            .where(Instance.sop_instance_uid == b("p_uid"))
            .with_for_update()
        )
        self.insert_instance = insert(Instance)
        self.delete_instance = delete(Instance).where(Instance.id == b("p_id"))
        self.repoint_instance = (
            update(Instance).where(Instance.id == b("p_id")).values(blob_key=b("p_key"))
        )
        self.patient_by_id = select(Patient).where(
            Patient.patient_id == b("p_pid"), Patient.issuer_of_patient_id == b("p_issuer")
        )
        self.insert_patient = insert(Patient).returning(Patient.id)
        study_columns = (
            Study.id,
            Study.patient_fk,
            Study.modalities_in_study,
            Study.sop_classes_in_study,
            Study.patient_conflict,
            Study.patient_conflict_detail,
            Study.deleted_at,
        )
        self.study_by_uid = (
            select(*study_columns).where(Study.study_instance_uid == b("p_uid")).with_for_update()
        )
        self.insert_study = insert(Study).returning(*study_columns)
        self.series_by_uid = select(
            Series.id, Series.study_fk, Series.modality, Series.deleted_at
        ).where(Series.series_instance_uid == b("p_uid"))
        # Soft delete undone by a new object (raddx.archive.deletion).
        self.revive_study = update(Study).where(Study.id == b("p_id")).values(deleted_at=null())
        self.revive_series = update(Series).where(Series.id == b("p_id")).values(deleted_at=null())
        self.insert_series = insert(Series).returning(Series.id)
        self.series_study = select(Series.study_fk).where(Series.id == b("p_id"))
        # Counters change by a bound delta, so adding and removing share one statement.
        self.count_series = (
            update(Series)
            .where(Series.id == b("p_id"))
            .values(
                number_of_series_related_instances=Series.number_of_series_related_instances
                + b("p_count"),
                series_size=Series.series_size + b("p_size"),
                updated_at=b("p_now"),
            )
        )
        self.count_study = (
            update(Study)
            .where(Study.id == b("p_id"))
            .values(
                number_of_study_related_instances=Study.number_of_study_related_instances
                + b("p_count"),
                number_of_study_related_series=Study.number_of_study_related_series + b("p_series"),
                study_size=Study.study_size + b("p_size"),
                updated_at=b("p_now"),
            )
        )
        self.insert_procedure_code = insert(ProcedureCode)
        self.procedure_code_held = _item_held(ProcedureCode, "study_fk", _PROCEDURE_CODE_COLUMNS)
        self.insert_request_attributes = insert(RequestAttributes)
        self.request_attributes_held = _item_held(
            RequestAttributes, "series_fk", _REQUEST_ATTRIBUTES_COLUMNS
        )
        self.describe_study = (
            update(Study)
            .where(Study.id == b("p_id"))
            .values(
                modalities_in_study=b("p_modalities"),
                sop_classes_in_study=b("p_sop_classes"),
                patient_conflict=b("p_conflict"),
                patient_conflict_detail=b("p_detail"),
            )
        )


def _item_held(table: Any, owner: str, columns: tuple[str, ...]) -> Any:
    """``SELECT id`` of an item equal to the bound one (NULLs equal), under one owner."""
    # No LIMIT: it would be one more bound parameter, and items are held once each anyway.
    return select(table.id).where(
        getattr(table, owner) == bindparam("p_id"),
        *(getattr(table, c).is_not_distinct_from(bindparam(c)) for c in columns),
    )


@functools.cache
def _statements() -> _Statements:
    return _Statements()


def file_instance(
    db: Executor,
    record: HeaderRecord,
    *,
    sha256: str,
    size: int,
    blob_key: str,
    policy: DuplicatePolicyValues,
    now: dt.datetime,
    instance_values: dict[str, Any],
    adopt: bool = False,
) -> Filed:
    """Insert (or replace) one instance and maintain every counter above it.

    With ``adopt`` the blob under ``blob_key`` is already in the store and the indexed blob
    of the same UID, if any, is known to be missing: identical content is re-pointed to the
    adopted blob instead of the adopted blob being discarded as redundant.

    Raises
    ------
    Conflict
        Different bytes are stored under the UID and ``policy`` is ``reject``.
    sqlalchemy.exc.IntegrityError
        A concurrent transaction inserted the same patient/study/series/instance first;
        the caller retries.
    """
    sql = _statements()
    filed = Filed()
    existing = db.first(sql.instance_by_uid, {"p_uid": record.sop_instance_uid})
    replaced_count = 0
    if existing is not None and existing.deleted_at is not None:
        # Re-received after a soft delete: the object comes back (raddx.archive.deletion).
        # The hidden row is already out of every counter; it is dropped and the object
        # filed as new, with the bytes just received.
        if existing.blob_key != blob_key:
            filed.superseded.append(existing.blob_key)
        db.run(sql.delete_instance, {"p_id": existing.id})
        existing = None
    if existing is not None:
        if existing.sha256 == sha256:
            filed.duplicate = True
            if existing.blob_key != blob_key:
                if adopt:
                    db.run(sql.repoint_instance, {"p_id": existing.id, "p_key": blob_key})
                else:
                    filed.superseded.append(blob_key)  # our copy is redundant
            return filed
        if policy is DuplicatePolicyValues.REJECT:
            raise Conflict(reject_message(record.sop_instance_uid))
        filed.replaced = True
        replaced_count = existing.replaced_count + 1
        if existing.blob_key != blob_key:
            filed.superseded.append(existing.blob_key)
        _detach(db, existing, now)

    patient_fk = _patient(db, record, filed.conflicts, now)
    study = _study(db, record, patient_fk, filed.conflicts, now)
    # Every stored object adds its SOP Class: an empty set means no object is filed yet.
    filed.new_study = not study.sop_classes_in_study
    series_fk, modality, new_series = _series(db, record, study.id, filed.conflicts, now)
    # Sequence items (PS3.4 C.2.2.2.6): only objects that carry the sequences get here.
    if record.procedure_codes or record.request_attributes:
        _index_items(db, record, study.id, series_fk)
    db.run(
        sql.insert_instance,
        {
            **record.instance,
            **instance_values,
            "series_fk": series_fk,
            "replaced_count": replaced_count,
            "blob_key": blob_key,
            "size": size,
            "sha256": sha256,
            "received_at": now,
        },
    )
    db.run(sql.count_series, {"p_id": series_fk, "p_count": 1, "p_size": size, "p_now": now})
    db.run(
        sql.count_study,
        {
            "p_id": study.id,
            "p_count": 1,
            "p_series": 1 if new_series else 0,
            "p_size": size,
            "p_now": now,
        },
    )
    filed.patient_conflict = bool(study.patient_conflict) or bool(filed.conflicts)
    detail = study.patient_conflict_detail
    if filed.conflicts:
        detail = _append_detail(detail, filed.conflicts)
    modalities = _add_value(study.modalities_in_study, modality)
    sop_classes = _add_value(study.sop_classes_in_study, record.instance["sop_class_uid"])
    if (modalities, sop_classes, detail) != (
        study.modalities_in_study,
        study.sop_classes_in_study,
        study.patient_conflict_detail,
    ) or filed.patient_conflict != bool(study.patient_conflict):
        db.run(
            sql.describe_study,
            {
                "p_id": study.id,
                "p_modalities": modalities,
                "p_sop_classes": sop_classes,
                "p_conflict": filed.patient_conflict,
                "p_detail": detail,
            },
        )
    return filed


def _detach(db: Executor, existing: Row, now: dt.datetime) -> None:
    """Take a replaced instance out of its series' and study's counters and drop its row;
    the new copy is then filed like a new instance (possibly into another series)."""
    sql = _statements()
    found = db.first(sql.series_study, {"p_id": existing.series_fk})
    assert found is not None  # the foreign key guarantees it
    study_fk = found.study_fk
    delta = {"p_count": -1, "p_size": -existing.size, "p_now": now}
    db.run(sql.count_series, {"p_id": existing.series_fk, **delta})
    db.run(sql.count_study, {"p_id": study_fk, "p_series": 0, **delta})
    db.run(sql.delete_instance, {"p_id": existing.id})


def _patient(db: Executor, record: HeaderRecord, conflicts: list[str], now: dt.datetime) -> int:
    sql = _statements()
    values = record.patient
    row = db.first(
        sql.patient_by_id,
        {"p_pid": values["patient_id"], "p_issuer": values["issuer_of_patient_id"]},
    )
    if row is None:
        params = {
            **values,
            **_fuzzy_keys("patient_name", values),
            "created_at": now,
            "updated_at": now,
        }
        inserted = db.first(sql.insert_patient, params)
        assert inserted is not None  # INSERT … RETURNING
        return int(inserted.id)
    changes: dict[str, Any] = {}
    for column, label in _PATIENT_CHECKED:
        stored, received = row[column], values[column]
        if received is None:
            continue
        if stored is None:
            changes.update(_columns_of(column, values))  # filling a gap is not a conflict
            if column == "patient_name":
                changes.update(_fuzzy_keys(column, values))
        elif _differs(column, stored, received):
            conflicts.append(
                f"{label} received {received!r} differs from stored {stored!r} "
                f"for PatientID {values['patient_id']!r}"
            )
        elif column == "patient_name" and received.count("=") > stored.count("="):
            # Same name with more groups (ideographic, phonetic): keep the richer form so
            # that Japanese queries find the patient.
            changes.update(_columns_of(column, values))
            changes.update(_fuzzy_keys(column, values))
    if row["deleted_at"] is not None:
        changes["deleted_at"] = None  # soft-deleted: a new object brings the patient back
    if changes:
        # Built per call (the changed columns vary), so it takes SQLAlchemy's generic path.
        db.run_built(
            update(Patient).where(Patient.id == row["id"]).values(updated_at=now, **changes)
        )
    return int(row["id"])


def _study(
    db: Executor,
    record: HeaderRecord,
    patient_fk: int,
    conflicts: list[str],
    now: dt.datetime,
) -> Row:
    sql = _statements()
    row = db.first(sql.study_by_uid, {"p_uid": record.study_instance_uid})
    if row is None:
        study = record.study
        params = {
            **study,
            **_fuzzy_keys("referring_physician_name", study),
            "study_date_time_utc": study_instant_utc(
                study["study_date"], study["study_time"], record.instants_offset
            ),
            "patient_fk": patient_fk,
            "specific_character_set": record.specific_character_set,
            "modalities_in_study": "",
            "sop_classes_in_study": "",
            "number_of_study_related_series": 0,
            "number_of_study_related_instances": 0,
            "study_size": 0,
            "patient_conflict": False,
            "patient_conflict_detail": None,
            "created_at": now,
            "updated_at": now,
        }
        inserted = db.first(sql.insert_study, params)
        assert inserted is not None  # INSERT … RETURNING
        return inserted
    if row.deleted_at is not None:
        # Soft-deleted: a new object brings the study back, with what arrives from now on
        # (its counters were recounted without the hidden rows when it was deleted).
        db.run(sql.revive_study, {"p_id": row.id})
    if row.patient_fk != patient_fk:
        conflicts.append(
            f"study is stored under another patient; this object says PatientID "
            f"{record.patient['patient_id']!r}"
        )
    return row


def _series(
    db: Executor,
    record: HeaderRecord,
    study_fk: int,
    conflicts: list[str],
    now: dt.datetime,
) -> tuple[int, str | None, bool]:
    sql = _statements()
    row = db.first(sql.series_by_uid, {"p_uid": record.series_instance_uid})
    if row is None:
        params = {
            **record.series,
            "study_fk": study_fk,
            "number_of_series_related_instances": 0,
            "series_size": 0,
            "created_at": now,
            "updated_at": now,
        }
        inserted = db.first(sql.insert_series, params)
        assert inserted is not None  # INSERT … RETURNING
        return int(inserted.id), record.series["modality"], True
    if row.study_fk != study_fk:
        conflicts.append(
            f"SeriesInstanceUID {record.series_instance_uid} already belongs to another "
            f"study; the object was filed under that series"
        )
    if row.deleted_at is not None:
        # Soft-deleted: back, and counted again in its study as a new series would be.
        db.run(sql.revive_series, {"p_id": row.id})
        return int(row.id), row.modality, True
    return int(row.id), row.modality, False


def _fuzzy_keys(column: str, values: dict[str, Any]) -> dict[str, str | None]:
    """The fuzzy matching keys of a name's groups. Computed where a patient or study row is
    written, not per object: most objects of a study find their rows already there."""
    return {
        f"{column}_{group}_fuzzy": fuzzy_group(values[f"{column}_{group}"]) for group in _GROUPS
    }


def _add_items(
    db: Executor,
    held: Any,
    insert_item: Any,
    owner: dict[str, int],
    owner_id: int,
    items: tuple[dict[str, str | None], ...],
) -> int:
    """Index the sequence items not yet held for their study or series: instances of one
    study normally repeat the same items, and a series acquired for two requests gathers
    both (PS3.4 C.2.2.2.6 matches any item). One indexed lookup per item, on the
    executor's fast path. Returns how many were added."""
    added = 0
    for item in items:
        if db.first(held, {"p_id": owner_id, **item}) is None:
            db.run(insert_item, {**owner, **item})
            added += 1
    return added


def refresh_items(db: Executor, record: HeaderRecord) -> int:
    """Add the sequence items of an indexed object that the index lacks, and return how many
    were added (re-index: objects stored before the index kept items, migration 0003). The
    object's rows are found by its Study and Series Instance UIDs; an object whose rows are
    gone adds nothing."""
    sql = _statements()
    if not record.procedure_codes and not record.request_attributes:
        return 0
    study = db.first(sql.study_by_uid, {"p_uid": record.study_instance_uid})
    series = db.first(sql.series_by_uid, {"p_uid": record.series_instance_uid})
    if study is None or series is None:
        return 0
    return _index_items(db, record, study.id, series.id)


def _index_items(db: Executor, record: HeaderRecord, study_id: int, series_id: int) -> int:
    """Index the object's ProcedureCodeSequence (study) and RequestAttributesSequence
    (series) items not held yet; how many were added."""
    sql = _statements()
    added = _add_items(
        db,
        sql.procedure_code_held,
        sql.insert_procedure_code,
        {"study_fk": study_id},
        study_id,
        record.procedure_codes,
    )
    return added + _add_items(
        db,
        sql.request_attributes_held,
        sql.insert_request_attributes,
        {"series_fk": series_id, "study_fk": study_id},
        series_id,
        record.request_attributes,
    )


def _columns_of(column: str, values: dict[str, Any]) -> dict[str, Any]:
    """``column`` and, for a name, all its group and normalised columns."""
    return {k: v for k, v in values.items() if k == column or k.startswith(f"{column}_")}


def _differs(column: str, stored: str, received: str) -> bool:
    """Whether a received patient attribute contradicts the stored one.

    Names are compared group by group on the normalised form, and only where both sides have
    the group: ``YAMADA^TAROU`` and ``Yamada^Tarou=山田^太郎`` are the same person, more fully
    written; ``Yamada^Tarou`` and ``Yamada^Hanako`` are not.
    """
    if column != "patient_name":
        return stored.strip().upper() != received.strip().upper()
    stored_groups = [normalize_group(g) for g in stored.split("=")]
    received_groups = [normalize_group(g) for g in received.split("=")]
    return any(a and b and a != b for a, b in zip(stored_groups, received_groups, strict=False))


def _add_value(joined: str, value: str | None) -> str:
    """Add ``value`` to a backslash-separated set kept in first-seen order."""
    if not value:
        return joined
    values = joined.split("\\") if joined else []
    if value in values:
        return joined
    return "\\".join([*values, value])


def _append_detail(existing: str | None, conflicts: list[str]) -> str:
    lines = existing.split("\n") if existing else []
    for conflict in conflicts:
        if conflict not in lines:
            lines.append(conflict)
    return "\n".join(lines[-20:])  # bounded: a study re-sent many times stays readable
