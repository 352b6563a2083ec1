"""HL7 CDA R2 imaging report per DICOM PS3.20 (our stand-in for the TR-0042 document until
the guideline is read; every TR-0042-specific value comes from :mod:`raddx.reports.profile`).

Header (PS3.20 9.x General and Imaging Header): ``id`` per version, ``setId`` +
``versionNumber`` across versions, ``relatedDocument RPLC`` for a version that replaces a
signed one, ``legalAuthenticator`` when signed, ``authenticator`` for a verifier named on an
unsigned version. Japanese names are written three times, ``use="IDE"`` (kanji), ``"SYL"``
(kana) and ``"ABC"`` (alphabetic). Body: one section per non-empty text field, identified by
its LOINC code (PS3.20 section outline; Procedure Description and Impression always), the
DICOM Object Catalog (121181) for key images, one Addendum section (55107-7) per addendum.
Section text is the narrative block with ``<br/>`` for line ends.

What CDA cannot carry (listed for the round-trip test in :data:`NOT_CARRIED`): the difference
between ``amended`` and ``corrected`` (both are a signed replacement; read back as amended),
and drafts, cancelled and entered-in-error reports, which are not exported (§5.4).
"""

from __future__ import annotations

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from raddx.reports.enum import ReportStatusValues as S
from raddx.reports.enum import SexValues
from raddx.reports.formats._common import (
    NAME_GROUP_USES,
    format_ts,
    join_name_groups,
    name_groups,
    parse_ts,
    split_name,
)
from raddx.reports.profile import CDA, SECTION_CODES
from raddx.reports.record import (
    Addendum,
    KeyImage,
    OrderInfo,
    PatientInfo,
    Person,
    Predecessor,
    ReportRecord,
    Sections,
    StudyRef,
)
from raddx.reports.status import SIGNED, format_status

__all__ = ["MEDIA_TYPE", "NOT_CARRIED", "from_cda", "to_cda"]

MEDIA_TYPE = "application/cda+xml"
NS = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_N = f"{{{NS}}}"
#: Record fields CDA cannot carry exactly (the round-trip test compares modulo these).
NOT_CARRIED = ("status: corrected is read back as amended",)

_GENDER = {SexValues.M: "M", SexValues.F: "F", SexValues.O: "UN"}
_GENDER_BACK = {"M": SexValues.M, "F": SexValues.F, "UN": SexValues.O}
_NAME_USES = (("name_kanji", "IDE"), ("name_kana", "SYL"), ("name_alpha", "ABC"))
_SECTION_ORDER = (
    "clinical_info",
    "history",
    "comparison",
    "technique",
    "findings",
    "impression",
    "recommendation",
)
_ALWAYS = frozenset({"technique", "impression"})
_CATALOG_TEMPLATE = "2.16.840.1.113883.10.20.6.1.1"


def _el(parent: etree._Element, tag: str, **attrib: str) -> etree._Element:
    return etree.SubElement(parent, _N + tag, attrib)


def _ii(parent: etree._Element, root: str, extension: str = "", tag: str = "id") -> None:
    if extension:
        _el(parent, tag, root=root, extension=extension)
    else:
        _el(parent, tag, root=root)


def _narrative(parent: etree._Element, text: str) -> None:
    node = _el(parent, "text")
    lines = text.split("\n")
    node.text = lines[0]
    for line in lines[1:]:
        br = _el(node, "br")
        br.tail = line


def _read_narrative(node: etree._Element | None) -> str:
    if node is None:
        return ""
    parts = [node.text or ""]
    for child in node:
        if etree.QName(child).localname == "br":
            parts.append("\n")
        else:  # lenient: other vendors' <paragraph>/<content>; keep their text
            parts.append("".join(child.itertext()))
            if etree.QName(child).localname == "paragraph" and child.getnext() is not None:
                parts.append("\n")
        parts.append(child.tail or "")
    return "".join(parts)


def _pn(parent: etree._Element, value: str, use: str | None = None) -> None:
    name = _el(parent, "name", **({"use": use} if use else {}))
    family, given = split_name(value)
    if family:
        _el(name, "family").text = family
    if given:
        _el(name, "given").text = given


def _read_pn(name: etree._Element) -> str:
    family = name.findtext(_N + "family") or ""
    given = name.findtext(_N + "given") or ""
    if not family and not given:
        return (name.text or "").strip()
    return f"{family}^{given}" if given else family


def _person(parent: etree._Element, person: Person, tag: str) -> None:
    entity = _el(parent, tag)
    if person.id:
        _ii(entity, CDA.person_root, person.id)
    else:
        _el(entity, "id", nullFlavor="NI")
    assigned = _el(entity, "assignedPerson")
    if "=" not in person.name:  # one form (a login name, a foreign system's name)
        _pn(assigned, person.name)
        return
    # A display name in PN groups: one <name> per form, as for the patient (IDE kanji,
    # SYL kana, ABC romaji).
    groups = name_groups(person.name)
    for group, use in NAME_GROUP_USES:
        if groups[group]:
            _pn(assigned, groups[group], use)


def _read_person(entity: etree._Element | None) -> Person | None:
    if entity is None:
        return None
    ident = entity.find(_N + "id")
    names = entity.findall(f"{_N}assignedPerson/{_N}name")
    if not names:
        return None
    uses = {use: group for group, use in NAME_GROUP_USES}
    groups = {uses[n.get("use", "")]: _read_pn(n) for n in names if n.get("use") in uses}
    value = join_name_groups(groups) if groups else _read_pn(names[0])
    return Person(name=value, id=(ident.get("extension") or "") if ident is not None else "")


def _doc_id(report_id: str, version: int) -> str:
    return f"{report_id}.{version}"


def to_cda(record: ReportRecord) -> bytes:
    """The record as a PS3.20 CDA document (UTF-8 XML bytes).

    Raises
    ------
    ValueError
        The status is not exported as CDA (draft, cancelled, entered-in-error; §5.4).
    """
    if not format_status(record.status).cda:
        raise ValueError(f"a {record.status} report is not exported as CDA (§5.4)")
    doc = etree.Element(_N + "ClinicalDocument", nsmap={None: NS, "xsi": XSI})
    _el(doc, "realmCode", code="JP")
    _el(doc, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    for template in CDA.template_ids:
        _el(doc, "templateId", root=template)
    if record.addenda and record.predecessor is not None:
        _el(doc, "templateId", root=CDA.addendum_template_id)
    _ii(doc, CDA.report_id_root, _doc_id(record.report_id, record.version))
    code, display = CDA.document_code
    _el(doc, "code", code=code, codeSystem="2.16.840.1.113883.6.1", displayName=display)
    _el(doc, "title").text = "画像診断報告書"
    _el(doc, "effectiveTime", value=format_ts(record.created_at))
    _el(doc, "confidentialityCode", code="N", codeSystem="2.16.840.1.113883.5.25")
    _el(doc, "languageCode", code=record.language)
    _ii(doc, CDA.report_id_root, record.report_id, tag="setId")
    _el(doc, "versionNumber", value=str(record.version))
    _record_target(doc, record.patient)
    author = _el(doc, "author")
    _el(author, "time", value=format_ts(record.created_at))
    if record.author is not None:
        _person(author, record.author, "assignedAuthor")
    else:
        _el(_el(author, "assignedAuthor"), "id", nullFlavor="NI")
    custodian = _el(
        _el(_el(doc, "custodian"), "assignedCustodian"), "representedCustodianOrganization"
    )
    _ii(custodian, CDA.report_id_root)
    if record.institution:
        _el(custodian, "name").text = record.institution
    if record.verifier is not None:
        tag = "legalAuthenticator" if record.status in SIGNED else "authenticator"
        auth = _el(doc, tag)
        if record.verified_at is not None:
            _el(auth, "time", value=format_ts(record.verified_at))
        else:
            _el(auth, "time", nullFlavor="UNK")
        _el(auth, "signatureCode", code="S")
        _person(auth, record.verifier, "assignedEntity")
    if record.order.referring_physician:
        part = _el(doc, "participant", typeCode="REF")
        entity = _el(part, "associatedEntity", classCode="PROV")
        _pn(_el(entity, "associatedPerson"), record.order.referring_physician)
    _order(doc, record.order)
    for study in record.studies:
        _service_event(doc, study, record.order)
    if record.predecessor is not None:
        related = _el(doc, "relatedDocument", typeCode="RPLC")
        parent = _el(related, "parentDocument")
        _ii(parent, CDA.report_id_root, _doc_id(record.report_id, record.predecessor.version))
        _ii(parent, CDA.report_id_root, record.report_id, tag="setId")
        _el(parent, "versionNumber", value=str(record.predecessor.version))
    encounter = _el(_el(doc, "componentOf"), "encompassingEncounter")
    _el(encounter, "id", nullFlavor="NI")
    first = record.studies[0].study_datetime if record.studies else None
    _el(encounter, "effectiveTime", value=format_ts(first or record.created_at))
    body = _el(_el(doc, "component"), "structuredBody")
    _sections(body, record)
    # No pretty printing: indentation would be inserted into narrative blocks that start
    # with a line break, changing the attested text.
    return bytes(etree.tostring(doc, xml_declaration=True, encoding="UTF-8"))


def _record_target(doc: etree._Element, patient: PatientInfo) -> None:
    role = _el(_el(doc, "recordTarget"), "patientRole")
    _ii(role, patient.issuer or CDA.patient_id_root, patient.patient_id)
    person = _el(role, "patient")
    for field, use in _NAME_USES:
        value = getattr(patient, field)
        if value:
            _pn(person, value, use)
    if patient.sex in _GENDER:
        _el(
            person,
            "administrativeGenderCode",
            code=_GENDER[patient.sex],
            codeSystem="2.16.840.1.113883.5.1",
        )
    else:
        _el(person, "administrativeGenderCode", nullFlavor="UNK")
    if patient.birth_date is not None:
        _el(person, "birthTime", value=patient.birth_date.strftime("%Y%m%d"))
    else:
        _el(person, "birthTime", nullFlavor="UNK")


def _order(doc: etree._Element, order: OrderInfo) -> None:
    node = _el(_el(doc, "inFulfillmentOf"), "order")
    ids = (
        (CDA.placer_order_root, order.placer_order_no),
        (CDA.filler_order_root, order.filler_order_no),
        (CDA.accession_root, order.accession_no),
        (CDA.requested_procedure_root, order.requested_procedure_id),
    )
    written = [(root, value) for root, value in ids if value]
    for root, value in written:
        _ii(node, root, value)
    if not written:
        _el(node, "id", nullFlavor="NI")
    if order.procedure_code:
        code = _el(node, "code", code=order.procedure_code, codeSystem=CDA.procedure_code_system)
        if order.procedure_name:
            code.set("displayName", order.procedure_name)
    elif order.procedure_name:
        _el(_el(node, "code", nullFlavor="UNK"), "originalText").text = order.procedure_name


def _service_event(doc: etree._Element, study: StudyRef, order: OrderInfo) -> None:
    event = _el(_el(doc, "documentationOf"), "serviceEvent", classCode="ACT")
    _ii(event, study.study_uid)
    if order.procedure_code:
        code = _el(
            event,
            "code",
            code=order.procedure_code,
            codeSystem=CDA.procedure_code_system,
            **({"displayName": order.procedure_name} if order.procedure_name else {}),
        )
    else:
        code = _el(event, "code", nullFlavor="UNK")
        if order.procedure_name:
            _el(code, "originalText").text = order.procedure_name
    for modality in study.modalities:
        _el(code, "translation", code=modality, codeSystem=CDA.dcm_code_system)
    for part in study.body_parts:
        _el(code, "translation", code=part, codeSystem=CDA.body_part_code_system)
    if study.study_datetime is not None:
        _el(_el(event, "effectiveTime"), "low", value=format_ts(study.study_datetime))


def _section(body: etree._Element, field: str, text: str) -> etree._Element:
    section = _el(_el(body, "component"), "section")
    template = dict(CDA.section_template_ids).get(field)
    if template:
        _el(section, "templateId", root=template)
    code, display = SECTION_CODES[field]
    _el(section, "code", code=code, codeSystem="2.16.840.1.113883.6.1", displayName=display)
    _el(section, "title").text = display
    _narrative(section, text)
    return section


def _sections(body: etree._Element, record: ReportRecord) -> None:
    for field in _SECTION_ORDER:
        text = getattr(record.sections, field)
        if text or field in _ALWAYS:
            _section(body, field, text)
    if record.key_images:
        section = _el(_el(body, "component"), "section")
        _el(section, "templateId", root=_CATALOG_TEMPLATE)
        _el(
            section,
            "code",
            code="121181",
            codeSystem=CDA.dcm_code_system,
            displayName="DICOM Object Catalog",
        )
        for image in record.key_images:
            _catalog_entry(section, image)
    for addendum in record.addenda:
        section = _section(body, "addendum", addendum.text)
        author = _el(section, "author")
        _el(author, "time", value=format_ts(addendum.created_at))
        _person(author, addendum.author, "assignedAuthor")


def _catalog_entry(section: etree._Element, image: KeyImage) -> None:
    """PS3.20 / C-CDA DICOM Object Catalog: Study act → Series act → SOP Instance."""
    study = _el(_el(section, "entry"), "act", classCode="ACT", moodCode="EVN")
    _el(study, "templateId", root="2.16.840.1.113883.10.20.6.2.6")
    _ii(study, image.study_uid)
    _el(study, "code", code="113014", codeSystem=CDA.dcm_code_system, displayName="Study")
    series = _el(
        _el(study, "entryRelationship", typeCode="COMP"), "act", classCode="ACT", moodCode="EVN"
    )
    _ii(series, image.series_uid)
    _el(series, "code", code="113015", codeSystem=CDA.dcm_code_system, displayName="Series")
    sop = _el(
        _el(series, "entryRelationship", typeCode="COMP"),
        "observation",
        classCode="DGIMG",
        moodCode="EVN",
    )
    _el(sop, "templateId", root="2.16.840.1.113883.10.20.6.2.8")
    _ii(sop, image.sop_uid)
    _el(sop, "code", code=image.sop_class_uid, codeSystem=CDA.sop_class_code_system)
    if image.comment:
        _el(sop, "text").text = image.comment
    if image.frame is not None:
        frames = _el(
            _el(sop, "entryRelationship", typeCode="COMP"),
            "observation",
            classCode="ROIBND",
            moodCode="EVN",
        )
        _el(
            frames,
            "code",
            code="121190",
            codeSystem=CDA.dcm_code_system,
            displayName="Referenced Frames",
        )
        etree.SubElement(frames, _N + "value", {f"{{{XSI}}}type": "INT", "value": str(image.frame)})


# -- reading ---------------------------------------------------------------------------


def _parse(data: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"CDA document is not well-formed XML: {exc}") from None
    if root.tag != _N + "ClinicalDocument":
        raise ValueError(f"not a CDA document: root element is {root.tag!r}")
    return root


def _one(node: etree._Element, path: str) -> etree._Element | None:
    return node.find(path.replace("h:", _N))


def _split_doc_id(doc: etree._Element) -> tuple[str, int]:
    set_id = _one(doc, "h:setId")
    version_node = _one(doc, "h:versionNumber")
    ident = _one(doc, "h:id")
    if set_id is not None and set_id.get("extension"):
        report_id = set_id.get("extension", "")
    elif ident is not None:
        report_id = ident.get("extension") or ident.get("root", "")
    else:
        raise ValueError("CDA document has no id")
    version = int(version_node.get("value", "1")) if version_node is not None else 1
    return report_id, version


def from_cda(data: bytes) -> ReportRecord:
    """A record from a PS3.20 CDA document (lenient about other vendors' narrative markup).

    Raises
    ------
    ValueError
        Not well-formed XML, not a ClinicalDocument, or content that makes no valid record
        (the message says which).
    """
    doc = _parse(data)
    report_id, version = _split_doc_id(doc)
    effective = _one(doc, "h:effectiveTime")
    if effective is None or not effective.get("value"):
        raise ValueError("CDA document has no effectiveTime")
    created_at = parse_ts(effective.get("value", ""))
    legal = _one(doc, "h:legalAuthenticator")
    related = _one(doc, "h:relatedDocument[@typeCode='RPLC']")
    predecessor = None
    if related is not None:
        parent_version = _one(related, "h:parentDocument/h:versionNumber")
        if parent_version is not None:
            predecessor = Predecessor(report_id, int(parent_version.get("value", "0")))
    verifier_node = legal if legal is not None else _one(doc, "h:authenticator")
    verifier = verified_at = None
    if verifier_node is not None:
        verifier = _read_person(_one(verifier_node, "h:assignedEntity"))
        time = _one(verifier_node, "h:time")
        if time is not None and time.get("value"):
            verified_at = parse_ts(time.get("value", ""))
    status = S.PRELIMINARY
    if legal is not None:
        status = S.AMENDED if predecessor is not None else S.FINAL
    sections, addenda, images = _read_body(doc)
    studies, order = _read_studies_and_order(doc)
    custodian_name = _one(
        doc, "h:custodian/h:assignedCustodian/h:representedCustodianOrganization/h:name"
    )
    language = _one(doc, "h:languageCode")
    try:
        return ReportRecord(
            report_id=report_id,
            version=version,
            status=status,
            patient=_read_patient(doc),
            created_at=created_at,
            order=order,
            studies=studies,
            sections=sections,
            key_images=images,
            addenda=addenda,
            author=_read_person(_one(doc, "h:author/h:assignedAuthor")),
            verifier=verifier,
            verified_at=verified_at,
            institution=(custodian_name.text or "") if custodian_name is not None else "",
            predecessor=predecessor,
            language=language.get("code", "ja") if language is not None else "ja",
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"CDA document {report_id} version {version}: {exc}") from None


def _read_patient(doc: etree._Element) -> PatientInfo:
    role = _one(doc, "h:recordTarget/h:patientRole")
    if role is None:
        raise ValueError("CDA document has no recordTarget/patientRole")
    ident = _one(role, "h:id")
    if ident is None or not ident.get("extension"):
        raise ValueError("CDA recordTarget has no patient id")
    root = ident.get("root", "")
    names = {"name_kanji": "", "name_kana": "", "name_alpha": ""}
    by_use = {use: field for field, use in _NAME_USES}
    for name in role.iterfind(f"{_N}patient/{_N}name"):
        field = by_use.get(name.get("use", "ABC"), "name_alpha")
        names[field] = names[field] or _read_pn(name)
    gender = _one(role, "h:patient/h:administrativeGenderCode")
    sex = _GENDER_BACK.get(gender.get("code", "") if gender is not None else "", SexValues.U)
    birth = _one(role, "h:patient/h:birthTime")
    birth_date = None
    if birth is not None and birth.get("value"):
        birth_date = parse_ts(birth.get("value", "")[:8]).date()
    return PatientInfo(
        patient_id=ident.get("extension", ""),
        issuer="" if root == CDA.patient_id_root else root,
        birth_date=birth_date,
        sex=sex,
        **names,
    )


def _read_studies_and_order(doc: etree._Element) -> tuple[tuple[StudyRef, ...], OrderInfo]:
    ids: dict[str, str] = {}
    for ident in doc.iterfind(f"{_N}inFulfillmentOf/{_N}order/{_N}id"):
        ids[ident.get("root", "")] = ident.get("extension", "")
    studies = []
    procedure_code = procedure_name = ""
    order_code = _one(doc, "h:inFulfillmentOf/h:order/h:code")
    if order_code is not None:
        procedure_code = order_code.get("code", "")
        procedure_name = order_code.get("displayName", "") or (
            order_code.findtext(_N + "originalText") or ""
        )
    for event in doc.iterfind(f"{_N}documentationOf/{_N}serviceEvent"):
        ident = _one(event, "h:id")
        if ident is None or not ident.get("root"):
            continue
        code = _one(event, "h:code")
        modalities, parts = [], []
        if code is not None:
            procedure_code = procedure_code or code.get("code", "")
            procedure_name = (
                procedure_name
                or code.get("displayName", "")
                or (code.findtext(_N + "originalText") or "")
            )
            for tr in code.iterfind(_N + "translation"):
                if tr.get("codeSystem") == CDA.dcm_code_system:
                    modalities.append(tr.get("code", ""))
                elif tr.get("codeSystem") == CDA.body_part_code_system:
                    parts.append(tr.get("code", ""))
        low = _one(event, "h:effectiveTime/h:low")
        when = parse_ts(low.get("value", "")) if low is not None and low.get("value") else None
        studies.append(StudyRef(ident.get("root", ""), tuple(modalities), when, tuple(parts)))
    referrer = _one(
        doc, "h:participant[@typeCode='REF']/h:associatedEntity/h:associatedPerson/h:name"
    )
    order = OrderInfo(
        placer_order_no=ids.get(CDA.placer_order_root, ""),
        filler_order_no=ids.get(CDA.filler_order_root, ""),
        accession_no=ids.get(CDA.accession_root, ""),
        requested_procedure_id=ids.get(CDA.requested_procedure_root, ""),
        procedure_code=procedure_code,
        procedure_name=procedure_name,
        referring_physician=_read_pn(referrer) if referrer is not None else "",
    )
    return tuple(studies), order


def _read_body(
    doc: etree._Element,
) -> tuple[Sections, tuple[Addendum, ...], tuple[KeyImage, ...]]:
    by_code = {code: field for field, (code, _) in SECTION_CODES.items()}
    texts: dict[str, str] = {}
    addenda: list[Addendum] = []
    images: list[KeyImage] = []
    for section in doc.iterfind(f".//{_N}structuredBody/{_N}component/{_N}section"):
        code = _one(section, "h:code")
        value = code.get("code", "") if code is not None else ""
        if value == "121181":
            images.extend(_read_catalog(section))
            continue
        field = by_code.get(value)
        text = _read_narrative(_one(section, "h:text"))
        if field == "addendum":
            time = _one(section, "h:author/h:time")
            author = _read_person(_one(section, "h:author/h:assignedAuthor"))
            if author is None or time is None:
                raise ValueError("CDA Addendum section without author and time")
            addenda.append(Addendum(text, author, parse_ts(time.get("value", ""))))
        elif field is not None:
            texts[field] = texts[field] + "\n" + text if field in texts else text
        else:  # a section we have no field for: keep its text in the findings
            title = section.findtext(_N + "title") or value
            texts["findings"] = (texts.get("findings", "") + f"\n[{title}]\n{text}").strip("\n")
    return Sections(**texts), tuple(addenda), tuple(images)


def _read_catalog(section: etree._Element) -> list[KeyImage]:
    images = []
    for study in section.iterfind(f"{_N}entry/{_N}act"):
        study_uid = study.find(_N + "id").get("root", "")
        for series in study.iterfind(f"{_N}entryRelationship/{_N}act"):
            series_uid = series.find(_N + "id").get("root", "")
            for sop in series.iterfind(f"{_N}entryRelationship/{_N}observation"):
                frame = sop.find(f"{_N}entryRelationship/{_N}observation/{_N}value")
                images.append(
                    KeyImage(
                        study_uid=study_uid,
                        series_uid=series_uid,
                        sop_uid=sop.find(_N + "id").get("root", ""),
                        sop_class_uid=sop.find(_N + "code").get("code", ""),
                        frame=int(frame.get("value", "1")) if frame is not None else None,
                        comment=sop.findtext(_N + "text") or "",
                    )
                )
    return images
