"""A signed report stored back into the archive: as a DICOM SR (TID 2000), as
Encapsulated PDF in the report's first study and, in every study of the report holding key
images, as a Key Object Selection Document (TID 2010) referencing that study's key images
(issue 7), through the same ingest as C-STORE.

Called by the doors after the transaction that signed the report has committed: the report
is signed whether or not the copy succeeds, so a failure is reported, not raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from raddx.archive import IngestService
from raddx.errors import RaddxError
from raddx.reports.formats.kos import kos_studies, to_kos
from raddx.reports.formats.pdf import to_pdf
from raddx.reports.formats.sr import to_encapsulated_pdf, to_sr
from raddx.reports.record import ReportRecord

__all__ = ["ArchiveCopy", "store_in_archive"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchiveCopy:
    """SOP Instance UIDs stored, and why a copy could not be stored."""

    stored: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default=())


def store_in_archive(
    *, record: ReportRecord, ingest: IngestService, pdf_font: Path | None = None
) -> ArchiveCopy:
    """Store ``record`` (signed, with a study) as SR and Encapsulated PDF (first study) and
    one KOS per study with key images. Storing the same version again stores the same
    objects (UIDs derived from report, version and study: no duplicates)."""
    if not record.signed or not record.studies:
        return ArchiveCopy()
    stored: list[str] = []
    errors: list[str] = []

    def as_pdf() -> bytes:
        return to_encapsulated_pdf(record, to_pdf(record, font=pdf_font))

    def as_sr() -> bytes:
        return to_sr(record)

    def as_kos(study_uid: str) -> Callable[[], bytes]:
        return lambda: to_kos(record, study_uid)

    makers: tuple[tuple[str, Callable[[], bytes]], ...] = (
        ("SR", as_sr),
        ("Encapsulated PDF", as_pdf),
    )
    several = len(kos_studies(record)) > 1
    for study_uid in kos_studies(record):
        makers += ((f"KOS of study {study_uid}" if several else "KOS", as_kos(study_uid)),)
    for what, make in makers:
        try:
            # ``source`` is a 16-character column (how an object arrived); a report id
            # may be 64 characters, so the report is named in the log line, not there.
            result = ingest.store(make(), source="report")
        except (RaddxError, ValueError, OSError) as exc:
            log.warning(
                "report archive copy failed report=%s version=%s kind=%s error=%s",
                record.report_id,
                record.version,
                what,
                type(exc).__name__,
            )
            errors.append(f"{what}: {exc}")
            continue
        stored.append(result.sop_instance_uid)
    return ArchiveCopy(tuple(stored), tuple(errors))
