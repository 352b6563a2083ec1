"""Authors and verifiers with a display name in PN groups (``Tanaka^Taro=田中^太郎=たなか^たろう``,
the account's display name): each format writes the kanji where a reader looks, keeps every
form it has room for, and reads the name back."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pydicom
from fhir.resources.R4B.bundle import Bundle
from lxml import etree

from raddx.reports import Person
from raddx.reports.formats import cda, fhir, hl7v2, pdf, sr
from raddx.reports.formats._common import person_display, primary_name
from raddx.reports.profile import FHIR
from raddx.reports.samples import sample_record

TANAKA = Person(name="Tanaka^Taro=田中^太郎=たなか^たろう", id="dr-tanaka")
SUZUKI = Person(name="Suzuki^Hanako=鈴木^花子=すずき^はなこ", id="dr-suzuki")
RECORD = sample_record(5).replace(author=TANAKA, verifier=SUZUKI, content_sha256=None)
_HL7 = "{urn:hl7-org:v3}"


def test_name_helpers() -> None:
    assert primary_name(TANAKA.name) == "田中^太郎"
    assert primary_name("dr-tanaka") == "dr-tanaka"
    assert primary_name("==たなか^たろう") == "たなか^たろう"
    assert person_display(TANAKA.name) == "田中 太郎 (たなか たろう)"
    assert person_display("Tanaka^Taro") == "Tanaka Taro"
    # Trailing empty components and groups are dropped per group (PS3.5 6.2.1).
    assert Person(name="Tanaka^=田中^太郎^=").name == "Tanaka=田中^太郎"


def test_sr_writes_the_groups_in_utf8() -> None:
    ds = pydicom.dcmread(io.BytesIO(sr.to_sr(RECORD)))
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    observer = next(i for i in ds.ContentSequence if "PersonName" in i)
    assert str(observer.PersonName) == TANAKA.name
    assert observer.PersonName.ideographic == "田中^太郎"
    assert observer.PersonName.phonetic == "たなか^たろう"
    verifying = ds.VerifyingObserverSequence[0].VerifyingObserverName
    assert verifying.ideographic == "鈴木^花子"
    back = sr.from_sr(sr.to_sr(RECORD), report_id=RECORD.report_id, version=1)
    assert back.author is not None and back.author.name == TANAKA.name
    assert back.verifier is not None and back.verifier.name == SUZUKI.name


def test_cda_writes_ide_syl_abc_names() -> None:
    doc = etree.fromstring(cda.to_cda(RECORD))
    names = doc.findall(f"{_HL7}author/{_HL7}assignedAuthor/{_HL7}assignedPerson/{_HL7}name")
    forms = {n.get("use"): (n.findtext(f"{_HL7}family"), n.findtext(f"{_HL7}given")) for n in names}
    assert forms == {
        "IDE": ("田中", "太郎"),
        "SYL": ("たなか", "たろう"),
        "ABC": ("Tanaka", "Taro"),
    }
    legal = doc.find(f"{_HL7}legalAuthenticator/{_HL7}assignedEntity/{_HL7}assignedPerson")
    assert legal is not None
    assert legal.find(f"{_HL7}name[@use='IDE']/{_HL7}family").text == "鈴木"  # type: ignore[union-attr]
    back = cda.from_cda(cda.to_cda(RECORD))
    assert (back.author, back.verifier) == (TANAKA, SUZUKI)


def test_fhir_practitioner_has_a_name_per_form() -> None:
    data = fhir.to_fhir(RECORD)
    Bundle.model_validate_json(data)  # FHIR R4 structure, with one HumanName per form
    bundle = json.loads(data)
    practitioners = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Practitioner"
    ]
    tanaka = next(p for p in practitioners if p["identifier"][0]["value"] == "dr-tanaka")
    forms = {
        n["extension"][0]["valueCode"]: n["text"]
        for n in tanaka["name"]
        if n["extension"][0]["url"] == FHIR.name_representation_url
    }
    assert forms == {"IDE": "田中 太郎", "SYL": "たなか たろう", "ABC": "Tanaka Taro"}
    back = fhir.from_fhir(fhir.to_fhir(RECORD))
    assert (back.author, back.verifier) == (TANAKA, SUZUKI)


def test_oru_sends_the_kanji_form_in_utf8_and_iso2022() -> None:
    for charset in ("UNICODE UTF-8", "~ISO IR87"):
        back = hl7v2.from_oru(hl7v2.to_oru(RECORD, charset=charset))
        assert back.verifier == Person(name="鈴木^花子", id="dr-suzuki")
        assert back.author == Person(name="田中^太郎", id="dr-tanaka")
    obr = next(s for s in hl7v2.to_oru(RECORD).decode().split("\r") if s.startswith("OBR"))
    assert obr.split("|")[32] == "dr-suzuki&鈴木&花子"


def test_pdf_shows_kanji_with_kana(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf.to_pdf(RECORD))
    text = subprocess.run(
        ["/usr/bin/pdftotext", path, "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "田中 太郎 (たなか たろう)" in text and "鈴木 花子 (すずき はなこ)" in text
    assert "dr-tanaka" not in text
    assert pdf.from_pdf(path.read_bytes()) == RECORD
