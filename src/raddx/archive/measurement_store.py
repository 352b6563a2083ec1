"""Saving a viewer's measurements into the study and reading them back (the rules; the REST
door in ``raddx.web.api.measurements`` only translates).

Saving checks every measured image against the index (it must be a stored, not deleted
instance of that study: a measurement cannot point outside the study it is filed in), takes
the images' own headers as the report's evidence (so the SR carries exactly their patient and
study attributes), and stores the report through the same ingest as C-STORE (audited and
indexed like any received object). A frame number is kept only for a multi-frame image, and
must exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pydicom import Dataset, dcmread
from pydicom.uid import UID
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from raddx.archive.ingest import IngestService
from raddx.archive.measurements import Measurement, build_report, read_report
from raddx.db.models import Instance, Series, Study
from raddx.errors import InvalidInput, NotFound
from raddx.storage import BlobStore

__all__ = ["SavedMeasurements", "list_measurements", "save_measurements"]

#: SR classes a Measurement Report (TID 1500) may be stored as.
_REPORT_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
)


@dataclass(frozen=True)
class SavedMeasurements:
    """One stored Measurement Report: who saved it, when, and what it holds."""

    sop_instance_uid: str
    observer: str | None
    saved_at: str | None
    measurements: list[Measurement]


def _study_id(session: Session, study_uid: str) -> int:
    found = session.scalar(
        select(Study.id).where(Study.study_instance_uid == study_uid, Study.deleted_at.is_(None))
    )
    if found is None:
        raise NotFound(f"study {study_uid} is not in the archive")
    return found


def _header(blobs: BlobStore, key: str) -> Dataset:
    with blobs.open(key) as stream:
        return dcmread(stream, stop_before_pixels=True)


def save_measurements(
    *,
    session_factory: sessionmaker[Session],
    blobs: BlobStore,
    ingest: IngestService,
    study_uid: str,
    measurements: Sequence[Measurement],
    observer: str,
    now: dt.datetime | None = None,
) -> str:
    """Store ``measurements`` (their ``sop_class_uid`` is filled from the index) as one
    Measurement Report in ``study_uid``; return its SOP Instance UID. The index is read in a
    session closed before the ingest writes (SQLite: no reader held across the write)."""
    if not measurements:
        raise InvalidInput("no measurement to save")
    wanted = {m.sop_instance_uid for m in measurements}
    with session_factory() as session:
        study_fk = _study_id(session, study_uid)
        rows = session.execute(
            select(Instance.sop_instance_uid, Instance.sop_class_uid, Instance.blob_key)
            .add_columns(Instance.number_of_frames)
            .join(Series, Instance.series_fk == Series.id)
            .where(
                Series.study_fk == study_fk,
                Instance.sop_instance_uid.in_(wanted),
                Instance.deleted_at.is_(None),
            )
        ).all()
    found = {row.sop_instance_uid: row for row in rows}
    missing = sorted(wanted - found.keys())
    if missing:
        raise InvalidInput(f"image {missing[0]} is not a stored image of study {study_uid}")
    ready = []
    for m in measurements:
        row = found[m.sop_instance_uid]
        frames = row.number_of_frames or 1
        frame = m.frame if frames > 1 else None
        if frame is not None and not 1 <= frame <= frames:
            raise InvalidInput(f"image {m.sop_instance_uid} has no frame {frame} (1–{frames})")
        ready.append(replace(m, sop_class_uid=str(row.sop_class_uid), frame=frame))
    evidence = [_header(blobs, found[uid].blob_key) for uid in sorted(wanted)]
    sop_uid, data = build_report(
        ready, evidence=evidence, observer=observer, saved_at=now or dt.datetime.now(dt.UTC)
    )
    ingest.store(data, source="viewer")
    return sop_uid


def list_measurements(
    *, session: Session, blobs: BlobStore, study_uid: str
) -> list[SavedMeasurements]:
    """Every Measurement Report stored in the study (ours and other viewers'), oldest
    first; an SR that is not a Measurement Report is passed over."""
    study_fk = _study_id(session, study_uid)
    rows = session.execute(
        select(Instance.sop_instance_uid, Instance.blob_key)
        .join(Series, Instance.series_fk == Series.id)
        .where(
            Series.study_fk == study_fk,
            Instance.sop_class_uid.in_(_REPORT_CLASSES),
            Instance.deleted_at.is_(None),
        )
        .order_by(Instance.received_at, Instance.id)
    ).all()
    saved = []
    for row in rows:
        with blobs.open(row.blob_key) as stream:
            ds = dcmread(stream)
        if "ContentTemplateSequence" in ds and ds.ContentTemplateSequence[0].get(
            "TemplateIdentifier"
        ) not in (None, "1500"):
            continue
        try:
            found, observer = read_report(ds)
        except (ValueError, AttributeError, KeyError, IndexError):
            continue  # another kind of SR (a report's TID 2000, a KOS-like SR)
        if not found:
            continue
        when = f"{ds.get('ContentDate', '')}{ds.get('ContentTime', '')}"
        saved.append(
            SavedMeasurements(
                sop_instance_uid=str(UID(row.sop_instance_uid)),
                observer=observer,
                saved_at=when or None,
                measurements=found,
            )
        )
    return saved
