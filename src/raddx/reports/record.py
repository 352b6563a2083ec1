"""The canonical report record (reference/report-exchange.md §5.1): every format maps to and
from this, the store keeps it as JSON, and its invariants hold for every object that exists.

Objects are immutable and validate in ``__post_init__`` (STYLE rule 4, highdicom's way): a
final report without a verifier, a verification time or an impression cannot be built, nor a
key image of a study the report does not list. Text is kept as NFC with ``\\n`` line ends, so
that a record read back from any format compares equal to the one written.

Signing (PS3.20 ``legalAuthenticator`` / FHIR ``final``): a signed record (final, amended,
corrected) carries ``content_sha256``, the SHA-256 of its canonical JSON without that field.
A record built with a digest that does not match its content is refused: it was changed after
signing. A record built as signed without a digest gets one (import of a foreign final report).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from raddx.reports.enum import ReportStatusValues, SexValues
from raddx.reports.status import SIGNED

__all__ = [
    "Addendum",
    "KeyImage",
    "OrderInfo",
    "PatientInfo",
    "Person",
    "Predecessor",
    "ReportRecord",
    "Sections",
    "StudyRef",
    "canonical_json",
]

#: Versions are 32-bit integers in the index (SQLite and PostgreSQL ``INTEGER``).
_MAX_VERSION = 2**31 - 1
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_ID = re.compile(r"^[^\x00-\x1f\\/]{1,64}$")


#: C0 controls other than TAB and LF (CR is folded into LF): no XML document can hold them.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _text(value: str, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    if _CONTROLS.search(value):
        raise ValueError(f"{name} contains a control character")
    return value


def _name(value: str, name: str) -> str:
    """A person name in PS3.5 PN form (``family^given``, or with groups
    ``alphabetic=ideographic=phonetic``); trailing empty components of each group and
    trailing empty groups are dropped as PS3.5 6.2.1 allows, so every format gives the same
    value."""
    groups = [g.rstrip("^ ") for g in _text(value, name).split("=")]
    while groups and not groups[-1]:
        groups.pop()
    return "=".join(groups)


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _norm_texts(obj: object, *names: str) -> None:
    for name in names:
        _set(obj, name, _text(getattr(obj, name), name))


def _uid(value: str, name: str) -> None:
    if len(value) > 64 or not _UID.match(value):
        raise ValueError(f"{name} {value!r} is not a valid UID (PS3.5 9.1)")


def _aware(obj: object, name: str, label: str | None = None) -> None:
    """Datetimes are timezone-aware and kept to the second: CDA TS, HL7 DTM and the CSV
    layout all carry seconds, so a finer value could not survive a round trip."""
    value = getattr(obj, name)
    if value is None:
        return
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise ValueError(f"{label or name} must be a timezone-aware datetime")
    if value.microsecond:
        _set(obj, name, value.replace(microsecond=0))


@dataclass(frozen=True)
class Person:
    """An author, verifier or referring physician: a local identifier and a display name."""

    name: str
    id: str = ""

    def __post_init__(self) -> None:
        _norm_texts(self, "id")
        _set(self, "name", _name(self.name, "Person.name"))
        if not self.name.strip():
            raise ValueError("Person.name must not be empty")


@dataclass(frozen=True)
class PatientInfo:
    """The patient the report is about. Names in the three Japanese forms (kanji = PS3.5
    ideographic / CDA ``IDE``, kana = phonetic / ``SYL``, alphabetic)."""

    patient_id: str
    issuer: str = ""
    name_kanji: str = ""
    name_kana: str = ""
    name_alpha: str = ""
    birth_date: dt.date | None = None
    sex: SexValues = SexValues.U

    def __post_init__(self) -> None:
        _norm_texts(self, "patient_id", "issuer")
        for name in ("name_kanji", "name_kana", "name_alpha"):
            _set(self, name, _name(getattr(self, name), name))
        if not _ID.match(self.patient_id):
            raise ValueError(f"patient_id {self.patient_id!r}: 1-64 characters, no controls")
        if len(self.issuer) > 64:
            raise ValueError("issuer is at most 64 characters (LO / a UID)")
        try:
            _set(self, "sex", SexValues(self.sex))
        except ValueError:
            raise ValueError(f"sex {self.sex!r} is not M, F, O or U") from None
        if isinstance(self.birth_date, dt.datetime) or (
            self.birth_date is not None and not isinstance(self.birth_date, dt.date)
        ):
            raise TypeError("birth_date must be a datetime.date")


@dataclass(frozen=True)
class OrderInfo:
    """The order the report answers (placer/filler numbers, accession, procedure)."""

    placer_order_no: str = ""
    filler_order_no: str = ""
    accession_no: str = ""
    requested_procedure_id: str = ""
    #: JJ1017-32 or a local code.
    procedure_code: str = ""
    procedure_name: str = ""
    referring_physician: str = ""

    def __post_init__(self) -> None:
        _norm_texts(self, *(f.name for f in dataclasses.fields(self)))
        if len(self.accession_no) > 16:
            raise ValueError("accession_no is at most 16 characters (SH, PS3.5 6.2)")


@dataclass(frozen=True)
class StudyRef:
    """A study the report reads."""

    study_uid: str
    modalities: tuple[str, ...] = ()
    study_datetime: dt.datetime | None = None
    body_parts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _uid(self.study_uid, "study_uid")
        _set(self, "modalities", tuple(self.modalities))
        _set(self, "body_parts", tuple(_text(b, "body_parts") for b in self.body_parts))
        for m in self.modalities:
            if not re.fullmatch(r"[A-Z0-9_ ]{1,16}", m):
                raise ValueError(f"modality {m!r} is not a CS value (PS3.3 C.7.3.1.1.1)")
        _aware(self, "study_datetime")


@dataclass(frozen=True)
class Sections:
    """The report's text sections (PS3.20 section outline)."""

    clinical_info: str = ""
    history: str = ""
    technique: str = ""
    comparison: str = ""
    findings: str = ""
    impression: str = ""
    recommendation: str = ""

    def __post_init__(self) -> None:
        _norm_texts(self, *(f.name for f in dataclasses.fields(self)))


@dataclass(frozen=True)
class KeyImage:
    """A key image: an instance of one of the report's studies."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    frame: int | None = None
    comment: str = ""

    def __post_init__(self) -> None:
        for name in ("study_uid", "series_uid", "sop_uid", "sop_class_uid"):
            _uid(getattr(self, name), name)
        if self.frame is not None and self.frame < 1:
            raise ValueError("frame numbers start at 1")
        _norm_texts(self, "comment")


@dataclass(frozen=True)
class Addendum:
    """Text added to a signed report (PS3.20 Addendum section, 55107-7)."""

    text: str
    author: Person
    created_at: dt.datetime

    def __post_init__(self) -> None:
        _norm_texts(self, "text")
        if not self.text.strip():
            raise ValueError("an addendum needs text")
        _aware(self, "created_at", "Addendum.created_at")


@dataclass(frozen=True)
class Predecessor:
    """The version this one replaces (CDA ``relatedDocument RPLC``, SR Predecessor Documents)."""

    report_id: str
    version: int


@dataclass(frozen=True)
class ReportRecord:
    """One version of one radiology report (§5.1).

    Raises
    ------
    ValueError
        Empty or over-long ``report_id``; ``version`` < 1; unknown ``status``; a signed status
        without ``verifier``, ``verified_at`` or ``sections.impression``; a key image of a study
        not in ``studies``; ``predecessor`` not lower than this version; ``content_sha256``
        that does not match the content; a naive datetime; ``verified_at`` without
        ``verifier``.
    """

    report_id: str
    version: int
    status: ReportStatusValues
    patient: PatientInfo
    created_at: dt.datetime
    order: OrderInfo = field(default_factory=OrderInfo)
    studies: tuple[StudyRef, ...] = ()
    sections: Sections = field(default_factory=Sections)
    key_images: tuple[KeyImage, ...] = ()
    addenda: tuple[Addendum, ...] = ()
    author: Person | None = None
    verifier: Person | None = None
    verified_at: dt.datetime | None = None
    institution: str = ""
    predecessor: Predecessor | None = None
    language: str = "ja"
    content_sha256: str | None = None

    def __post_init__(self) -> None:
        _norm_texts(self, "report_id", "institution", "language")
        if not _ID.match(self.report_id) or not self.report_id.strip():
            raise ValueError(f"report_id {self.report_id!r}: 1-64 characters, no controls or /")
        if not isinstance(self.version, int) or not 1 <= self.version <= _MAX_VERSION:
            raise ValueError(f"version must be an integer 1..{_MAX_VERSION}, not {self.version!r}")
        try:
            _set(self, "status", ReportStatusValues(self.status))
        except ValueError:
            raise ValueError(f"status {self.status!r} is not a report status") from None
        _set(self, "studies", tuple(self.studies))
        _set(self, "key_images", tuple(self.key_images))
        _set(self, "addenda", tuple(self.addenda))
        _aware(self, "created_at")
        _aware(self, "verified_at")
        if self.status in SIGNED:
            missing = [
                n
                for n, v in (
                    ("verifier", self.verifier),
                    ("verified_at", self.verified_at),
                    ("impression", self.sections.impression.strip()),
                )
                if not v
            ]
            if missing:
                raise ValueError(
                    f"a {self.status} report needs {', '.join(missing)} "
                    f"(report {self.report_id} version {self.version})"
                )
        if self.verified_at is not None and self.verifier is None:
            raise ValueError("verified_at without a verifier: who verified it?")
        listed = {s.study_uid for s in self.studies}
        for image in self.key_images:
            if image.study_uid not in listed:
                raise ValueError(
                    f"key image {image.sop_uid} is of study {image.study_uid}, "
                    "which the report does not list"
                )
        if self.predecessor is not None and not (
            self.predecessor.report_id == self.report_id
            and 1 <= self.predecessor.version < self.version
        ):
            raise ValueError("predecessor must be a lower version of the same report")
        if self.status in SIGNED:
            digest = self.compute_digest()
            if self.content_sha256 is None:
                _set(self, "content_sha256", digest)
            elif self.content_sha256 != digest:
                raise ValueError(
                    f"content_sha256 does not match the content of report {self.report_id} "
                    f"version {self.version}: it was changed after signing"
                )
        else:
            _set(self, "content_sha256", None)

    # -- derived ------------------------------------------------------------------------
    @property
    def signed(self) -> bool:
        """Whether this version is signed (and so never changes)."""
        return self.status in SIGNED

    @property
    def study_date(self) -> dt.date | None:
        """Date of the first study, for selection and matching."""
        first = next((s.study_datetime for s in self.studies if s.study_datetime), None)
        return first.date() if first else None

    def compute_digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of everything but the digest itself."""
        data = self.to_dict()
        data.pop("content_sha256", None)
        return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()

    def replace(self, **changes: Any) -> ReportRecord:
        """A copy with ``changes``; the digest is recomputed for a signed result."""
        changes.setdefault("content_sha256", None)
        return dataclasses.replace(self, **changes)

    # -- JSON ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (dates and datetimes as ISO 8601 text)."""
        return _plain(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportRecord:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ValueError
            Missing or invalid fields (the message names the field).
        """
        try:
            d = dict(data)
            return cls(
                report_id=d["report_id"],
                version=int(d["version"]),
                status=d["status"],
                patient=PatientInfo(
                    **{
                        **d["patient"],
                        "birth_date": _date(d["patient"].get("birth_date")),
                    }
                ),
                created_at=_datetime(d["created_at"]),  # type: ignore[arg-type]
                order=OrderInfo(**d.get("order") or {}),
                studies=tuple(
                    StudyRef(
                        study_uid=s["study_uid"],
                        modalities=tuple(s.get("modalities") or ()),
                        study_datetime=_datetime(s.get("study_datetime")),
                        body_parts=tuple(s.get("body_parts") or ()),
                    )
                    for s in d.get("studies") or ()
                ),
                sections=Sections(**d.get("sections") or {}),
                key_images=tuple(KeyImage(**k) for k in d.get("key_images") or ()),
                addenda=tuple(
                    Addendum(
                        text=a["text"],
                        author=Person(**a["author"]),
                        created_at=_datetime(a["created_at"]),  # type: ignore[arg-type]
                    )
                    for a in d.get("addenda") or ()
                ),
                author=Person(**d["author"]) if d.get("author") else None,
                verifier=Person(**d["verifier"]) if d.get("verifier") else None,
                verified_at=_datetime(d.get("verified_at")),
                institution=d.get("institution") or "",
                predecessor=Predecessor(**d["predecessor"]) if d.get("predecessor") else None,
                language=d.get("language") or "ja",
                content_sha256=d.get("content_sha256"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a report record: {exc}") from None


def canonical_json(data: Any) -> str:
    """Sorted keys, no insignificant whitespace, UTF-8 text: the bytes the digest covers."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _plain(value: Any) -> Any:
    """JSON-ready copy of a record or part of one. Hand-written rather than
    ``dataclasses.asdict``: that deep-copies every leaf and was a third of an export's time."""
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None:
        return {name: _plain(getattr(value, name)) for name in fields}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, str | int | None):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    return value


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _datetime(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
