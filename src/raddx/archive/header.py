"""Read the header of a received object and turn it into index values, level by level.

The tables below say which DICOM keyword feeds which index column and how the value is
normalised. They are the single place where ingest learns what the index holds
(``raddx.db.models`` documents the columns and the PS3.4 keys they serve).

pydicom decodes text with the object's Specific Character Set (ISO 2022 IR 13/87/159, ISO_IR
192, …) when an attribute is accessed, so every value here is already Unicode.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydicom
from pydicom.charset import TEXT_VR_DELIMS, convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.uid import UID

from raddx.archive.datetimes import date_time_utc
from raddx.archive.names import split_person_name
from raddx.archive.part10 import (
    DatasetScan,
    FileMeta,
    Part10Error,
    _Walker,
    read_file_meta,
    scan_dataset,
)
from raddx.errors import InvalidInput

__all__ = ["HeaderRecord", "parse_header"]

log = logging.getLogger(__name__)

# pydicom reads leniently and reports oddities (invalid values, unknown character sets)
# through ``warnings``. We turn those into ingest warnings (logged, never fatal) instead of
# changing pydicom's process-wide validation mode. ``warnings.catch_warnings`` swaps process-global
# state, so parsing is serialised by this lock; parsing is pure Python under the GIL anyway,
# so the lock costs no throughput.
_PARSE_LOCK = threading.Lock()

_UID_CHARS = re.compile(r"^[0-9.]+$")
#: A well-formed UID (PS3.5 9.1): components without leading zeros, separated by single dots.
_VALID_UID = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*\Z")
_DA = re.compile(r"^(\d{4})\.?(\d{2})\.?(\d{2})$")  # YYYYMMDD, or ACR-NEMA YYYY.MM.DD
_TM = re.compile(r"^(\d{2})(?::?(\d{2})(?::?(\d{2})(\.\d{1,6})?)?)?$")
_DT = re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?$")


def check_uid(value: str, *, strict: bool) -> tuple[bool, str]:
    """PS3.5 9.1 UID rules as ``(ok, reason)``; reason is also set for tolerated flaws.

    Strict mode rejects leading zeros in a component; lenient mode accepts them (several
    modality vendors emit them) with a reason to log.
    """
    if len(value) <= 64 and _VALID_UID.match(value):
        return True, ""  # the common case, in one regex match
    if not value:
        return False, "is empty"
    if len(value) > 64:
        return False, f"is {len(value)} characters long (at most 64 allowed)"
    if not _UID_CHARS.match(value):
        bad = sorted({c for c in value if c not in "0123456789."})
        return False, f"contains characters other than digits and dots: {''.join(bad)!r}"
    components = value.split(".")
    if any(c == "" for c in components):
        return False, "has an empty component (two dots in a row, or a leading/trailing dot)"
    if any(len(c) > 1 and c[0] == "0" for c in components):
        if strict:
            return False, "has a component with a leading zero"
        return True, "has a component with a leading zero (tolerated)"
    return True, ""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    text = text.strip()
    return text or None


def _da(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    m = _DA.match(text)
    return "".join(m.groups()) if m else None


def _tm(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    m = _TM.match(text)
    if not m:
        return None
    hours, minutes, seconds, fraction = m.groups()
    # Padded to HHMMSS so that text comparison is time comparison in range matching
    # ("1010" is 10:10:00, and must not sort before "101000").
    return f"{hours}{minutes or '00'}{seconds or '00'}{fraction or ''}"


def _dt(value: Any) -> str | None:
    text = _text(value)
    return text if text is not None and _DT.match(text) else None


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(float(str(value).strip()))
    except (TypeError, ValueError):
        return None
    return number if -(2**31) <= number < 2**31 else None


_Converter = Callable[[Any], Any]
_CONVERTERS: dict[str, _Converter] = {"text": _text, "da": _da, "tm": _tm, "dt": _dt, "int": _int}

# (keyword, column, kind). "pn" expands to the verbatim value, its three groups and their
# normalised forms (see raddx.archive.names).
_PATIENT = (
    ("PatientID", "patient_id", "text"),
    ("IssuerOfPatientID", "issuer_of_patient_id", "text"),
    ("PatientName", "patient_name", "pn"),
    ("PatientBirthDate", "patient_birth_date", "da"),
    ("PatientBirthTime", "patient_birth_time", "tm"),
    ("PatientSex", "patient_sex", "text"),
    ("OtherPatientIDs", "other_patient_ids", "text"),
    ("EthnicGroup", "ethnic_group", "text"),
    ("PatientComments", "patient_comments", "text"),
)
_STUDY = (
    ("StudyInstanceUID", "study_instance_uid", "text"),
    ("StudyDate", "study_date", "da"),
    ("StudyTime", "study_time", "tm"),
    ("AccessionNumber", "accession_number", "text"),
    ("StudyID", "study_id", "text"),
    ("StudyDescription", "study_description", "text"),
    ("ReferringPhysicianName", "referring_physician_name", "pn"),
    ("PatientAge", "patient_age", "text"),
    ("PatientSize", "patient_size", "text"),
    ("PatientWeight", "patient_weight", "text"),
    ("TimezoneOffsetFromUTC", "timezone_offset_from_utc", "text"),
    ("InstitutionName", "institution_name", "text"),
)
_SERIES = (
    ("SeriesInstanceUID", "series_instance_uid", "text"),
    ("Modality", "modality", "text"),
    ("SeriesNumber", "series_number", "int"),
    ("SeriesDescription", "series_description", "text"),
    ("SeriesDate", "series_date", "da"),
    ("SeriesTime", "series_time", "tm"),
    ("BodyPartExamined", "body_part_examined", "text"),
    ("Laterality", "laterality", "text"),
    ("ProtocolName", "protocol_name", "text"),
    ("StationName", "station_name", "text"),
    ("Manufacturer", "manufacturer", "text"),
    ("PerformedProcedureStepStartDate", "performed_procedure_step_start_date", "da"),
    ("PerformedProcedureStepStartTime", "performed_procedure_step_start_time", "tm"),
)
_INSTANCE = (
    ("SOPInstanceUID", "sop_instance_uid", "text"),
    ("SOPClassUID", "sop_class_uid", "text"),
    ("InstanceNumber", "instance_number", "int"),
    ("ContentDate", "content_date", "da"),
    ("ContentTime", "content_time", "tm"),
    ("AcquisitionDateTime", "acquisition_date_time", "dt"),
    ("NumberOfFrames", "number_of_frames", "int"),
    ("Rows", "rows", "int"),
    ("Columns", "columns", "int"),
)
#: Sequences indexed item by item for sequence matching (PS3.4 C.2.2.2.6): sequence keyword
#: → (the item keywords kept, with their columns). Text only, kept verbatim.
_SEQUENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "ProcedureCodeSequence": (
        ("CodeValue", "code_value"),
        ("CodingSchemeDesignator", "coding_scheme_designator"),
        ("CodingSchemeVersion", "coding_scheme_version"),
        ("CodeMeaning", "code_meaning"),
    ),
    # Not indexed item by item: the first item becomes study.issuer_of_accession_number.
    "IssuerOfAccessionNumberSequence": (
        ("LocalNamespaceEntityID", "local_namespace_entity_id"),
        ("UniversalEntityID", "universal_entity_id"),
        ("UniversalEntityIDType", "universal_entity_id_type"),
    ),
    "RequestAttributesSequence": (
        ("RequestedProcedureID", "requested_procedure_id"),
        ("ScheduledProcedureStepID", "scheduled_procedure_step_id"),
        ("AccessionNumber", "accession_number"),
        ("RequestedProcedureDescription", "requested_procedure_description"),
        ("ScheduledProcedureStepDescription", "scheduled_procedure_step_description"),
    ),
}
_REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


@dataclass(slots=True)
class HeaderRecord:
    """What ingest needs from one object: index values per level, plus framing facts."""

    meta: FileMeta
    specific_character_set: str | None
    patient: dict[str, Any] = field(default_factory=dict)
    study: dict[str, Any] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)
    instance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: Items of the indexed sequences (column → value), empty when the object has none;
    #: tuples, so an object without them allocates nothing.
    procedure_codes: tuple[dict[str, str | None], ...] = ()
    request_attributes: tuple[dict[str, str | None], ...] = ()
    #: The UTC offset the object's dates and times are taken in to compute instants: its own
    #: TimezoneOffsetFromUTC, else the site's ``default_timezone_offset``, else none (UTC).
    instants_offset: str | None = None

    @property
    def sop_instance_uid(self) -> str:
        return str(self.instance["sop_instance_uid"])

    @property
    def study_instance_uid(self) -> str:
        return str(self.study["study_instance_uid"])

    @property
    def series_instance_uid(self) -> str:
        return str(self.series["series_instance_uid"])


_PN_SUFFIXES = (
    "",
    "_alphabetic",
    "_ideographic",
    "_phonetic",
    "_alphabetic_norm",
    "_ideographic_norm",
    "_phonetic_norm",
)
#: How one column is filled: (tag, column, kind, PN columns or ()).
_Step = tuple[int, str, str, tuple[str, ...]]
#: One fill plan per column table, by id.
_PLANS: dict[int, tuple[_Step, ...]] = {}


def _plan(table: tuple[tuple[str, str, str], ...]) -> tuple[_Step, ...]:
    plan = _PLANS.get(id(table))
    if plan is None:
        plan = tuple(
            (
                int(tag_for_keyword(keyword)),  # type: ignore[arg-type]
                column,
                kind,
                tuple(column + suffix for suffix in _PN_SUFFIXES) if kind == "pn" else (),
            )
            for keyword, column, kind in table
        )
        _PLANS[id(table)] = plan
    return plan


def _fill(
    values: _HeaderValues, table: tuple[tuple[str, str, str], ...], target: dict[str, Any]
) -> None:
    """Set ``target``'s columns from ``values``; absent attributes are ``None`` (most of the
    ~45 collected attributes are absent from a typical object, so they cost a set lookup)."""
    present = values.present
    for tag, column, kind, pn_columns in _plan(table):
        if tag not in present:
            if pn_columns:
                target.update(dict.fromkeys(pn_columns))
            else:
                target[column] = None
            continue
        value = values.get(tag)
        if pn_columns:
            groups = split_person_name(None if value is None else str(value))
            alpha, ideo, phon = groups.normalized if groups else (None, None, None)
            target.update(
                zip(
                    pn_columns,
                    (
                        groups.full if groups else None,
                        groups.alphabetic if groups else None,
                        groups.ideographic if groups else None,
                        groups.phonetic if groups else None,
                        alpha,
                        ideo,
                        phon,
                    ),
                    strict=True,
                )
            )
        elif kind == "text" and type(value) is str:
            target[column] = value.strip() or None  # what _text does, without its checks
        else:
            target[column] = _CONVERTERS[kind](value)


@functools.lru_cache(maxsize=1)
def _collected_tags() -> frozenset[int]:
    keywords = {k for table in (_PATIENT, _STUDY, _SERIES, _INSTANCE) for k, _, _ in table}
    keywords |= {*_REQUIRED_UIDS, *_PIXEL_KEYWORDS, *_SEQUENCES, "SpecificCharacterSet"}
    return frozenset(int(tag_for_keyword(k)) for k in keywords)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=64)
def _tag(keyword: str) -> int:
    return int(tag_for_keyword(keyword))  # type: ignore[arg-type]


@functools.lru_cache(maxsize=1)
def _pixel_tags() -> frozenset[int]:
    return frozenset(int(tag_for_keyword(k)) for k in _PIXEL_KEYWORDS)  # type: ignore[arg-type]


#: Text VRs whose value, when it is plain ASCII, decodes the same in every character set
#: (PS3.5 6.1.2.5.3: the default repertoire is G0 of every supported set).
_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI"}
    | {"UR", "UT"}
)


@functools.lru_cache(maxsize=256)
def _dictionary_vr(tag: int) -> str | None:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return None


class _HeaderValues:
    """Decoded values of the collected top-level elements.

    Plain-ASCII text and US numbers are decoded here directly; anything else (non-ASCII
    text in any character set, escape sequences, other VRs) goes through pydicom, which
    applies the Specific Character Set. Going through pydicom for everything cost ~0.4 ms
    per object in ``bench/ingest.py`` (its per-element conversion machinery), most of the
    header parse, while nearly all index values are ASCII.
    """

    def __init__(self, scan: DatasetScan) -> None:
        self._scan = scan
        self._dataset: Dataset | None = None

    def __contains__(self, tag: int) -> bool:
        return tag in self._scan.elements

    @property
    def present(self) -> Mapping[int, Any]:
        """The collected elements found in the object, by tag."""
        return self._scan.elements

    def get(self, tag: int) -> Any:
        """The value of ``tag`` (``str`` for text, ``int`` for US), or ``None``."""
        found = self._scan.elements.get(tag)
        if found is None:
            return None
        vr, offset, length = found
        vr = vr or _dictionary_vr(tag)
        raw = bytes(self._scan.payload[offset : offset + length])
        if vr in _TEXT_VRS and raw.isascii() and b"\x1b" not in raw:
            return raw.decode("ascii").rstrip(" \0")
        if vr == "US" and length >= 2:
            return int.from_bytes(raw[:2], "little" if self._scan.little_endian else "big")
        return self._pydicom()[BaseTag(tag)].value

    def _pydicom(self) -> Dataset:
        """A pydicom Dataset of the collected elements, still encoded; pydicom decodes each
        on first access with the object's Specific Character Set."""
        if self._dataset is None:
            scan = self._scan
            implicit, little = not scan.explicit_vr, scan.little_endian
            pixel_tags = _pixel_tags()
            raw: dict[BaseTag, RawDataElement] = {}
            for tag, (vr, offset, length) in scan.elements.items():
                if tag in pixel_tags:
                    value = b""  # only checked for presence; its value is never copied
                elif length == _UNDEFINED:
                    value = bytes(scan.payload[offset : offset + _items_length(scan, vr, offset)])
                else:
                    value = bytes(scan.payload[offset : offset + length])
                raw[BaseTag(tag)] = RawDataElement(
                    BaseTag(tag), vr, len(value), value, offset, implicit, little
                )
            self._dataset = Dataset(raw)  # type: ignore[arg-type]  # pydicom's stub is invariant
            self._dataset.set_original_encoding(implicit, little)
        return self._dataset


_UNDEFINED = 0xFFFFFFFF
_ITEM_TAG = 0xFFFEE000


def _items_length(scan: DatasetScan, vr: str | None, offset: int) -> int:
    """Byte length of the items of an undefined-length sequence starting at ``offset``,
    without its delimiter (the scan notes only where it starts). Walked again here, only
    for the few collected sequences, so that objects without them pay nothing."""
    walker = _Walker(scan.payload, little=scan.little_endian, offset=0)
    explicit = scan.explicit_vr and vr != "UN"  # PS3.5 6.2.2: UN of undefined length
    end = walker._sequence(offset, len(scan.payload), explicit=explicit, depth=1)
    return end - 8 - offset


@functools.lru_cache(maxsize=4)
def _item_tags(keyword: str) -> tuple[tuple[int, str], ...]:
    return tuple((_tag(k), column) for k, column in _SEQUENCES[keyword])


@functools.lru_cache(maxsize=32)
def _python_encodings(charset: str | None) -> list[str]:
    terms = [t.strip() for t in charset.split("\\")] if charset else None
    return convert_encodings(terms)


def _raw_items(
    scan: DatasetScan, keyword: str, charset: str | None
) -> list[dict[str, str | None]] | None:
    """The items of a sequence read straight from the bytes: ASCII values as they are,
    other text through pydicom's decoder with the object's Specific Character Set (as
    pydicom decodes a text element). RequestAttributesSequence is in most images of a
    worklist-driven department, often with a Japanese description, so this path is hot:
    pydicom's sequence reader cost ~0.25 ms per object here, this walk a few µs. ``None``
    (an element that is not an item) sends the sequence through pydicom, which reports
    the damage."""
    vr, offset, length = scan.elements[_tag(keyword)]
    if length == _UNDEFINED:
        length = _items_length(scan, vr, offset)
    wanted = _item_tags(keyword)
    data = scan.payload
    walker = _Walker(
        data, little=scan.little_endian, offset=0, collect=frozenset(t for t, _ in wanted)
    )
    explicit = scan.explicit_vr and vr != "UN"
    pos, end = offset, offset + length
    items: list[dict[str, str | None]] = []
    while pos < end:
        tag = walker._read_tag(pos)
        (item_length,) = walker._u32.unpack_from(data, pos + 4)
        pos += 8
        if tag != _ITEM_TAG:
            return None  # let pydicom judge (and report) the damage
        walker.collected = {}
        if item_length == _UNDEFINED:
            pos = walker.walk(pos, end, explicit=explicit, depth=0, stop_at_item_delimiter=True)
        else:
            walker.walk(
                pos, pos + item_length, explicit=explicit, depth=0, stop_at_item_delimiter=False
            )
            pos += item_length
        row: dict[str, str | None] = {}
        for tag, column in wanted:
            found = walker.collected.get(tag)
            if found is None:
                row[column] = None
                continue
            raw = bytes(data[found[1] : found[1] + found[2]])
            if raw.isascii() and b"\x1b" not in raw:
                text = raw.decode("ascii")
            else:
                text = decode_bytes(raw, _python_encodings(charset), TEXT_VR_DELIMS)
            row[column] = text.strip(" \0") or None
        if any(v is not None for v in row.values()):
            items.append(row)
    return items


def _sequence_items(
    values: _HeaderValues, keyword: str, notes: list[str]
) -> tuple[dict[str, str | None], ...]:
    """The indexed item attributes of one sequence. A damaged optional sequence is logged
    and left out of the index; it never costs the object its place in the archive."""
    try:
        charset = values.get(_tag("SpecificCharacterSet"))
        fast = _raw_items(values._scan, keyword, None if charset is None else str(charset))
        if fast is not None:
            return tuple(fast)
        sequence = values.get(_tag(keyword))
        items = []
        for item in sequence or ():
            row = {column: _text(item.get(kw)) for kw, column in _SEQUENCES[keyword]}
            if any(v is not None for v in row.values()):
                items.append(row)
        return tuple(items)
    except Exception as exc:  # pydicom raises many types on damaged values
        notes.append(f"{keyword} not indexed: {exc}")
        return ()


def _accession_issuer(items: tuple[dict[str, str | None], ...]) -> str | None:
    # One place for the issuer's form and rule (an import here would be a cycle at start).
    from raddx.ris.accession_issuer import AccessionIssuer

    issuer = AccessionIssuer.from_items(items)
    return issuer.canonical if issuer is not None else None


def parse_header(
    data: bytes,
    *,
    strict: bool = False,
    dataset: memoryview | None = None,
    default_timezone_offset: str | None = None,
) -> HeaderRecord:
    """Validate a Part 10 object and extract its index values.

    Parameters
    ----------
    data
        The complete Part 10 bytes, or only the preamble and File Meta group when
        ``dataset`` is given.
    strict
        Apply strict validation (``validation_mode = strict``).
    dataset
        The dataset bytes following ``data`` (a received C-STORE dataset, not copied).
    default_timezone_offset
        The offset (``+0900``) of objects that carry no TimezoneOffsetFromUTC: most
        modalities send local times without one.

    Raises
    ------
    InvalidInput
        Not DICOM, truncated or damaged, a required UID missing or malformed, or (strict)
        the File Meta and the dataset disagree on the SOP Instance UID. The message names
        the problem.
    """
    try:
        meta = read_file_meta(data)
        scan = scan_dataset(data, meta, _collected_tags(), dataset=dataset)
    except Part10Error as exc:
        raise InvalidInput(str(exc)) from None
    with _PARSE_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            record = _extract(_HeaderValues(scan), meta, strict=strict)
            record.instants_offset = (
                record.study["timezone_offset_from_utc"] or default_timezone_offset
            )
            acquired = record.instance["acquisition_date_time"]
            record.instance["acquisition_date_time_utc"] = (
                date_time_utc(acquired, record.instants_offset) if acquired else None
            )
        except InvalidInput:
            raise
        except Exception as exc:  # pydicom raises many types on damaged values
            raise InvalidInput(f"cannot decode the DICOM header: {exc}") from None
    record.warnings[:0] = scan.tolerated
    record.warnings.extend(f"pydicom: {w.message}" for w in caught)
    return record


def _extract(values: _HeaderValues, meta: FileMeta, *, strict: bool) -> HeaderRecord:
    problems: list[str] = []
    notes: list[str] = []
    for keyword in _REQUIRED_UIDS:
        raw = values.get(_tag(keyword))
        value = str(raw).strip().rstrip("\0") if raw is not None else ""
        if not value:
            problems.append(f"{keyword} is missing")
            continue
        ok, reason = check_uid(value, strict=strict)
        if not ok:
            problems.append(f"{keyword} {value!r} {reason}")
        elif reason:
            notes.append(f"{keyword} {reason}")
    if problems:
        raise InvalidInput("; ".join(problems))
    ts_ok, ts_reason = check_uid(meta.transfer_syntax_uid, strict=True)
    if not ts_ok:
        raise InvalidInput(f"Transfer Syntax UID {meta.transfer_syntax_uid!r} {ts_reason}")
    sop_instance = str(values.get(_tag("SOPInstanceUID"))).strip().rstrip("\0")
    if meta.media_storage_sop_instance_uid and meta.media_storage_sop_instance_uid != sop_instance:
        # pydicom's own chrJapMulti.dcm has this flaw; real files do too. The dataset's
        # SOPInstanceUID is the object's identity, so lenient mode files it under that.
        mismatch = (
            f"File Meta says Media Storage SOP Instance UID "
            f"{meta.media_storage_sop_instance_uid!r} but the dataset's SOPInstanceUID is "
            f"{sop_instance!r}"
        )
        if strict:
            raise InvalidInput(mismatch)
        notes.append(f"{mismatch}; filed under the dataset's UID")
    sop_class = str(values.get(_tag("SOPClassUID"))).strip().rstrip("\0")
    if meta.media_storage_sop_class_uid and meta.media_storage_sop_class_uid != sop_class:
        notes.append("File Meta SOP Class UID differs from the dataset's SOPClassUID")
    if (
        _tag("Rows") in values
        and _tag("Columns") in values
        and not any(tag in values for tag in _pixel_tags())
    ):
        # Image Pixel module without pixel data: a file cut off exactly at the start of
        # (7FE0,0010) looks like this, and the length walk cannot see it. But real
        # objects (pydicom's chrJapMulti.dcm) also carry Rows/Columns alone.
        missing = "the object has Rows/Columns but no Pixel Data (truncated file?)"
        if strict:
            raise InvalidInput(missing)
        notes.append(missing)

    charset = _text(values.get(_tag("SpecificCharacterSet")))
    record = HeaderRecord(meta=meta, specific_character_set=charset, warnings=notes)
    _fill(values, _PATIENT, record.patient)
    _fill(values, _STUDY, record.study)
    _fill(values, _SERIES, record.series)
    _fill(values, _INSTANCE, record.instance)
    if _tag("ProcedureCodeSequence") in values:
        record.procedure_codes = _sequence_items(values, "ProcedureCodeSequence", notes)
    if _tag("RequestAttributesSequence") in values:
        record.request_attributes = _sequence_items(values, "RequestAttributesSequence", notes)
    record.study["issuer_of_accession_number"] = (
        _accession_issuer(_sequence_items(values, "IssuerOfAccessionNumberSequence", notes))
        if _tag("IssuerOfAccessionNumberSequence") in values
        else None
    )
    record.patient["patient_id"] = record.patient["patient_id"] or ""
    record.patient["issuer_of_patient_id"] = record.patient["issuer_of_patient_id"] or ""
    record.instance["sop_class_uid"] = str(UID(sop_class))
    return record
