"""Report formats: each module is a pair ``to_X(record) -> bytes`` / ``from_X(data) -> record``
(STYLE rule 1: one plug-in per module). :data:`FORMATS` is the table the doors use to answer
``Accept`` / ``?format=`` and to read foreign files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from raddx.reports.formats import cda, fhir, hl7v2, pdf, sr
from raddx.reports.record import ReportRecord

__all__ = ["FORMATS", "ReportFormat", "format_by_media_type", "format_by_name"]


@dataclass(frozen=True)
class ReportFormat:
    """One exchange format of a report."""

    name: str
    media_type: str
    extension: str
    write: Callable[[ReportRecord], bytes]
    read: Callable[[bytes], ReportRecord]


def _json(record: ReportRecord) -> bytes:
    from raddx.reports.record import canonical_json

    return canonical_json(record.to_dict()).encode("utf-8")


def _from_json(data: bytes) -> ReportRecord:
    import json

    try:
        return ReportRecord.from_dict(json.loads(data))
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"not a raddx report record: {exc}") from None


FORMATS: dict[str, ReportFormat] = {
    "json": ReportFormat("json", "application/json", ".json", _json, _from_json),
    "cda": ReportFormat("cda", cda.MEDIA_TYPE, ".cda.xml", cda.to_cda, cda.from_cda),
    "fhir": ReportFormat("fhir", fhir.MEDIA_TYPE, ".fhir.json", fhir.to_fhir, fhir.from_fhir),
    "pdf": ReportFormat("pdf", pdf.MEDIA_TYPE, ".pdf", pdf.to_pdf, pdf.from_pdf),
    "oru": ReportFormat("oru", hl7v2.MEDIA_TYPE, ".hl7", hl7v2.to_oru, hl7v2.from_oru),
    "sr": ReportFormat("sr", "application/dicom", ".dcm", sr.to_sr, sr.from_sr),
}


def format_by_name(name: str) -> ReportFormat | None:
    """The format called ``name`` (``cda``, ``fhir``, ``json``, ``pdf``, ``oru``), or
    ``None``."""
    return FORMATS.get(name.lower())


def format_by_media_type(media_type: str) -> ReportFormat | None:
    """The format answering ``media_type`` (``application/xml`` is CDA), or ``None``."""
    media_type = media_type.split(";")[0].strip().lower()
    if media_type in ("application/xml", "text/xml", "application/hl7-cda+xml"):
        return FORMATS["cda"]
    return next((f for f in FORMATS.values() if f.media_type == media_type), None)
