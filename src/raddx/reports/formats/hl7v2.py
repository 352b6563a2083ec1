"""HL7 v2.5 ORU^R01 report message (IHE RAD-128 style, Japanese conventions).

MSH-18 is ``UNICODE UTF-8`` by default or ``~ISO IR87`` (with MSH-20 ``ISO 2022-1994``) for
sites on the SS-MIX2/JAHIS convention, where the message is encoded ISO-2022-JP; text outside
JIS X 0208 (e.g. 髙, ①) cannot be sent that way and is refused with the character named.
Names are written as ``漢字^…^L^I~カナ^…^L^P~Alpha^…^L^A`` (XPN-7 name type, XPN-8
representation). OBR carries the order (OBR-2/3 placer/filler, OBR-4 procedure, OBR-7 study
date-time, OBR-16 referring physician, OBR-18 accession, OBR-19 requested procedure id, OBR-20/21
our report id and version, OBR-22 status time, OBR-25 result status, OBR-32 verifier, OBR-33
author); one OBX per text section
(TX, the section's LOINC code, line ends as ``\\.br\\``), one per addendum, one HD per study
(``113014^DICOM Study^DCM``) and one RP per key image.

What ORU cannot carry (:data:`NOT_CARRIED`) comes back empty or default.
"""

from __future__ import annotations

import itertools

from raddx.reports.enum import ReportStatusValues as S
from raddx.reports.enum import SexValues
from raddx.reports.formats._common import format_ts, parse_ts, primary_name
from raddx.reports.profile import SECTION_CODES
from raddx.reports.record import (
    Addendum,
    KeyImage,
    OrderInfo,
    PatientInfo,
    Person,
    ReportRecord,
    Sections,
    StudyRef,
)
from raddx.reports.status import format_status, status_from_oru

__all__ = ["MEDIA_TYPE", "NOT_CARRIED", "from_oru", "to_oru"]

MEDIA_TYPE = "application/hl7-v2"
NOT_CARRIED = (
    "predecessor (a message is one event, not a document version)",
    "status beyond OBR-25 (amended and corrected both C; draft not sent)",
    "modalities, body parts and date-time of studies after the first",
    "addendum authors' ids and the issuer-less/issued difference of person ids",
    "the kana and romaji forms of a person's display name (CNN holds one name: the kanji)",
    "institution, language, key image comments and frames",
)
_UTF8 = "UNICODE UTF-8"
_IR87 = "~ISO IR87"
_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))
_SECTIONS = (
    "clinical_info",
    "history",
    "technique",
    "comparison",
    "findings",
    "impression",
    "recommendation",
)
_ids = itertools.count(1)


def _esc(text: str) -> str:
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text.replace("\n", "\\.br\\")


def _unesc(text: str) -> str:
    text = text.replace("\\.br\\", "\n")
    for raw, escaped in reversed(_ESCAPES):
        text = text.replace(escaped, raw)
    return text


def _segment(name: str, fields: dict[int, str]) -> str:
    last = max(fields) if fields else 0
    return "|".join([name, *(fields.get(i, "") for i in range(1, last + 1))])


def _xpn(name: str, representation: str) -> str:
    family, _, given = name.partition("^")
    return f"{_esc(family)}^{_esc(given)}^^^^^L^{representation}"


def _xcn(person: Person) -> str:
    family, _, given = primary_name(person.name).partition("^")
    return f"{_esc(person.id)}^{_esc(family)}^{_esc(given)}"


def _ndl(person: Person) -> str:
    # CNN has room for one name and no representation code: the kanji form of a display
    # name in PN groups (JP sites read kanji), else what there is.
    family, _, given = primary_name(person.name).partition("^")
    return f"{_esc(person.id)}&{_esc(family)}&{_esc(given)}"


def _hd(issuer: str) -> str:
    """CX-4 assigning authority: an OID as HD universal ID (type ISO), else a namespace."""
    if issuer.replace(".", "").isdigit():
        return f"&{issuer}&ISO"
    return _esc(issuer)


def _read_hd(value: str) -> str:
    parts = value.split("&")
    return _unesc(parts[1] if len(parts) > 1 and parts[1] else parts[0])


def to_oru(record: ReportRecord, *, charset: str = _UTF8, sending_facility: str = "") -> bytes:
    """The record as an ORU^R01 message (segments separated by CR).

    Parameters
    ----------
    charset
        ``"UNICODE UTF-8"`` (default) or ``"~ISO IR87"`` (ISO-2022-JP, JP convention).

    Raises
    ------
    ValueError
        A draft (not sent, §5.4); text not encodable in ISO-2022-JP when that is asked for.
    """
    result_status = format_status(record.status).oru
    if result_status is None:
        raise ValueError(f"a {record.status} report is not sent as ORU (§5.4)")
    msh = {  # MSH-n; MSH-1 is the field separator itself
        2: "^~\\&",
        3: "RADDX",
        4: _esc(sending_facility),
        7: format_ts(record.created_at),
        9: "ORU^R01^ORU_R01",
        10: f"{record.report_id}.{record.version}.{next(_ids)}",
        11: "P",
        12: "2.5",
        17: "JPN",
        18: charset,
    }
    if charset == _IR87:
        msh[20] = "ISO 2022-1994"
    msh_text = "MSH|" + "|".join(msh.get(i, "") for i in range(2, max(msh) + 1))
    p = record.patient
    names = [
        _xpn(value, rep)
        for value, rep in ((p.name_kanji, "I"), (p.name_kana, "P"), (p.name_alpha, "A"))
        if value
    ]
    pid = {
        1: "1",
        3: f"{_esc(p.patient_id)}^^^{_hd(p.issuer)}" if p.issuer else _esc(p.patient_id),
        5: "~".join(names),
        7: p.birth_date.strftime("%Y%m%d") if p.birth_date else "",
        8: p.sex.value,
    }
    o = record.order
    first = record.studies[0] if record.studies else None
    obr: dict[int, str] = {
        1: "1",
        2: _esc(o.placer_order_no),
        3: _esc(o.filler_order_no),
        4: f"{_esc(o.procedure_code)}^{_esc(o.procedure_name)}^JJ1017"
        if o.procedure_code
        else f"^{_esc(o.procedure_name)}",
        7: format_ts(first.study_datetime) if first and first.study_datetime else "",
        18: _esc(o.accession_no),
        19: _esc(o.requested_procedure_id),
        20: _esc(record.report_id),  # filler field 1: our report id
        21: str(record.version),  # filler field 2: its version
        22: format_ts(record.verified_at or record.created_at),
        25: result_status,
    }
    if o.referring_physician:
        obr[16] = _xcn(Person(name=o.referring_physician))
    if record.verifier:
        obr[32] = _ndl(record.verifier)
    if record.author:
        obr[33] = _ndl(record.author)
    segments = [msh_text, _segment("PID", pid), _segment("OBR", obr)]
    obx_status = "F" if record.signed else "P"
    n = 0

    def obx(value_type: str, code: str, display: str, system: str, value: str) -> None:
        nonlocal n
        n += 1
        segments.append(
            _segment(
                "OBX",
                {
                    1: str(n),
                    2: value_type,
                    3: f"{code}^{_esc(display)}^{system}",
                    5: value,
                    11: obx_status,
                },
            )
        )

    for study in record.studies:
        obx("HD", "113014", "DICOM Study", "DCM", study.study_uid)
    for field in _SECTIONS:
        text = getattr(record.sections, field)
        if text:
            code, display = SECTION_CODES[field]
            obx("TX", code, display, "LN", _esc(text))
    for addendum in record.addenda:
        code, display = SECTION_CODES["addendum"]
        stamp = format_ts(addendum.created_at)
        author = primary_name(addendum.author.name)
        obx("TX", code, display, "LN", _esc(f"{stamp} {author}\n{addendum.text}"))
    for image in record.key_images:
        ref = f"{image.study_uid}&{image.series_uid}&{image.sop_uid}&{image.sop_class_uid}"
        obx("RP", "121180", "Key Images", "DCM", ref)
    message = "\r".join(segments) + "\r"
    if charset == _IR87:
        try:
            return message.encode("iso2022_jp")
        except UnicodeEncodeError as exc:
            bad = message[exc.start : exc.end]
            raise ValueError(f"{bad!r} is outside JIS X 0208; send this report as UTF-8") from None
    return message.encode("utf-8")


def _decode(data: bytes) -> str:
    head = data.split(b"\r", 1)[0]
    if b"ISO IR87" in head or b"\x1b$B" in data:
        return data.decode("iso2022_jp")
    return data.decode("utf-8")


def _field(fields: list[str], n: int) -> str:
    return fields[n] if n < len(fields) else ""


def _name(xpn: str) -> tuple[str, str]:
    parts = xpn.split("^")
    family, given = _unesc(parts[0]), _unesc(parts[1]) if len(parts) > 1 else ""
    return (f"{family}^{given}" if given else family), (parts[7] if len(parts) > 7 else "")


def _person(value: str, sep: str) -> Person | None:
    parts = value.split(sep)
    if len(parts) < 2 or not (parts[1] or (len(parts) > 2 and parts[2])):
        return None
    family, given = _unesc(parts[1]), _unesc(parts[2]) if len(parts) > 2 else ""
    return Person(name=f"{family}^{given}" if given else family, id=_unesc(parts[0]))


def from_oru(data: bytes, *, version: int = 1) -> ReportRecord:
    """A record from an ORU^R01 message (first ORDER_OBSERVATION; OBR-25 P/F/C/X leniently
    as dcm4chee maps them). ``report_id`` is OBR-20 when we wrote the message, else the
    filler order number (OBR-3), the placer's (OBR-2) or the accession number; ``version``
    is OBR-21, else the argument.

    Raises
    ------
    ValueError
        Not an ORU^R01, undecodable text, or content that makes no valid record.
    """
    try:
        text = _decode(data)
    except UnicodeDecodeError as exc:
        raise ValueError(f"ORU message is not UTF-8 or ISO-2022-JP: {exc}") from None
    segments: dict[str, list[str]] = {}
    obxs: list[list[str]] = []
    for line in filter(None, text.replace("\n", "\r").split("\r")):
        fields = line.split("|")
        if fields[0] == "OBX":
            obxs.append(fields)
        else:
            segments.setdefault(fields[0], fields)
    msh = segments.get("MSH")
    if msh is None or not _field(msh, 8).startswith("ORU^R01"):
        raise ValueError("not an ORU^R01 message")
    pid, obr = segments.get("PID"), segments.get("OBR")
    if pid is None or obr is None:
        raise ValueError("ORU^R01 without PID or OBR")
    names = {"I": "", "P": "", "A": ""}
    for xpn in _field(pid, 5).split("~"):
        if xpn:
            value, rep = _name(xpn)
            names[rep if rep in names else "A"] = names.get(rep) or value
    cx = _field(pid, 3).split("~")[0].split("^")
    birth = _field(pid, 7)
    sex = _field(pid, 8)
    patient = PatientInfo(
        patient_id=_unesc(cx[0]),
        issuer=_read_hd(cx[3]) if len(cx) > 3 else "",
        name_kanji=names["I"],
        name_kana=names["P"],
        name_alpha=names["A"],
        birth_date=parse_ts(birth[:8]).date() if birth else None,
        sex=SexValues(sex) if sex in SexValues.__members__ else SexValues.U,
    )
    procedure = _field(obr, 4).split("^")
    referrer = _person(_field(obr, 16), "^")
    order = OrderInfo(
        placer_order_no=_unesc(_field(obr, 2)),
        filler_order_no=_unesc(_field(obr, 3)),
        accession_no=_unesc(_field(obr, 18)),
        requested_procedure_id=_unesc(_field(obr, 19)),
        procedure_code=_unesc(procedure[0]),
        procedure_name=_unesc(procedure[1]) if len(procedure) > 1 else "",
        referring_physician=referrer.name if referrer else "",
    )
    status = status_from_oru(_field(obr, 25))
    study_time = _field(obr, 7)
    texts: dict[str, str] = {}
    by_code = {code: field for field, (code, _) in SECTION_CODES.items()}
    studies: list[StudyRef] = []
    images: list[KeyImage] = []
    addenda: list[Addendum] = []
    for obx in obxs:
        code = _field(obx, 3).split("^")[0]
        value = _field(obx, 5)
        if code == "113014":
            when = parse_ts(study_time) if study_time and not studies else None
            studies.append(StudyRef(study_uid=value, study_datetime=when))
        elif code == "121180":
            parts = value.split("&")
            if len(parts) < 4:
                raise ValueError(f"OBX key image {value!r}: expected study&series&sop&class")
            images.append(KeyImage(parts[0], parts[1], parts[2], parts[3]))
        elif by_code.get(code) == "addendum":
            head, _, body = _unesc(value).partition("\n")
            stamp, _, author = head.partition(" ")
            addenda.append(Addendum(body, Person(name=author or "?"), parse_ts(stamp)))
        elif code in by_code:
            texts[by_code[code]] = _unesc(value)
    verifier = _person(_field(obr, 32), "&")
    stamp = _field(obr, 22) or _field(msh, 6)
    verified_at = (
        parse_ts(stamp) if verifier and status in (S.FINAL, S.AMENDED, S.CORRECTED) else None
    )
    report_id = (
        _unesc(_field(obr, 20))
        or order.filler_order_no
        or order.placer_order_no
        or order.accession_no
    )
    carried = _field(obr, 21)
    version = int(carried) if carried.isdigit() and int(carried) > 0 else version
    try:
        return ReportRecord(
            report_id=report_id,
            version=version,
            status=status,
            patient=patient,
            created_at=parse_ts(_field(msh, 6)),
            order=order,
            studies=tuple(studies),
            sections=Sections(**texts),
            key_images=tuple(images),
            addenda=tuple(addenda),
            author=_person(_field(obr, 33), "&"),
            verifier=verifier,
            verified_at=verified_at,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"ORU message: {exc}") from None
