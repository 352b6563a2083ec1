"""The FHIR report bundle against JP Core's radiology profiles, as far as can be checked
offline: structure with ``fhir.resources``, then the profiles' fixed codes, required
elements, type restrictions and slices, written down below as a table of facts.

Source of the facts (JP Core v1.2 line, FSH sources; the repository carries no licence
file, so only these facts are carried over, not its files): github.com/jami-fhir-jp-wg/
jp-core-v1x at cb1f4ee19ecdb4edaebfe349c43caddbf32ff276,
``input/fsh/profiles/JP_DiagnosticReport_Radiology.fsh``, ``JP_DiagnosticReport_Common.fsh``,
``JP_Observation_Radiology_Findings.fsh``, ``JP_Observation_Radiology_Impression.fsh``,
``JP_Observation_Common.fsh`` and ``input/fsh/aliases.fsh``. Not checked here (need the
terminology server or the official validator): ValueSet membership beyond the fixed codes,
and profiles of the referenced Patient/Practitioner/ImagingStudy.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from raddx.reports import ReportRecord, ReportStatusValues, Sections
from raddx.reports.formats.fhir import from_fhir, to_fhir
from raddx.reports.lifecycle import amend
from raddx.reports.samples import sample_record

CORE = "http://jpfhir.jp/fhir/core"
LOINC = "http://loinc.org"
DCM = "http://dicom.nema.org/resources/ontology/DCM"

REPORT_PROFILE = f"{CORE}/StructureDefinition/JP_DiagnosticReport_Radiology"
#: Observation profile → its fixed LOINC code (``code.coding.system = LOINC (exactly)``,
#: ``code.coding.code = #… (exactly)``, ``value[x] only string``).
OBSERVATION_PROFILES = {
    f"{CORE}/StructureDefinition/JP_Observation_Radiology_Findings": "18782-3",
    f"{CORE}/StructureDefinition/JP_Observation_Radiology_Impression": "19005-8",
}
#: ``category[first]`` of JP_Observation_Common (1..*, system exactly) with code #imaging.
OBSERVATION_CATEGORY = (f"{CORE}/CodeSystem/JP_SimpleObservationCategory_CS", "imaging")
#: ``category[first]`` 1..1: LOINC LP29684-5 exactly; ``category[second]``: DICOM modality.
REPORT_CATEGORY = (LOINC, "LP29684-5")
#: ``code.coding[radiologyReportCode]`` 0..1: this system, code 18748-4 exactly.
REPORT_CODE_SLICE = (f"{CORE}/CodeSystem/JP_DocumentCodes_CS", "18748-4")
#: R4 DiagnosticReport.status codes (required binding).
REPORT_STATUSES = {
    "registered", "partial", "preliminary", "final", "amended", "corrected", "appended",
    "cancelled", "entered-in-error", "unknown",
}  # fmt: skip
#: Must Support elements of JP_DiagnosticReport_Radiology the record always has data for
#: (``media.link`` is MS too, checked below; ``presentedForm`` when there is a rendering).
REPORT_MUST_SUPPORT = (
    "text", "basedOn", "category", "subject", "effectiveDateTime", "issued", "performer",
    "resultsInterpreter", "result", "imagingStudy", "conclusion",
)  # fmt: skip
#: Type restrictions (``only Reference(...)``), by the resource types they allow.
REPORT_REFERENCE_TYPES = {
    "basedOn": {"ServiceRequest", "CarePlan", "ImmunizationRecommendation", "MedicationRequest",
                "NutritionOrder"},
    "subject": {"Patient", "Group", "Device", "Location"},
    "performer": {"Practitioner"},
    "resultsInterpreter": {"Practitioner"},
    "result": {"Observation"},
    "imagingStudy": {"ImagingStudy"},
}  # fmt: skip


def _bundle(record: ReportRecord) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    data = to_fhir(record)
    Bundle.model_validate_json(data)  # R4(B) structure, cardinalities and datatypes
    bundle = json.loads(data)
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    [report] = [r for r in by_url.values() if r["resourceType"] == "DiagnosticReport"]
    return report, by_url


_FINAL = sample_record(12)
_RECORDS = {
    "final": _FINAL,
    "preliminary": sample_record(13, status=ReportStatusValues.PRELIMINARY),
    "amended": amend(
        _FINAL,
        verifier=_FINAL.verifier,  # type: ignore[arg-type]
        at=_FINAL.verified_at,  # type: ignore[arg-type]
        sections=Sections(findings="所見訂正", impression="訂正後の診断"),
    ),
    "with institution": _FINAL.replace(institution="千代田総合病院"),
}


@pytest.mark.parametrize("name", sorted(_RECORDS))
def test_diagnostic_report_meets_jp_diagnosticreport_radiology(name: str) -> None:
    record = _RECORDS[name]
    report, by_url = _bundle(record)
    assert REPORT_PROFILE in report["meta"]["profile"]
    assert report["status"] in REPORT_STATUSES
    first, *second = report["category"]
    assert [(c["system"], c["code"]) for c in first["coding"]] == [REPORT_CATEGORY]
    modalities = [m for s in record.studies for m in s.modalities]
    assert [(c["coding"][0]["system"], c["coding"][0]["code"]) for c in second] == [
        (DCM, m) for m in dict.fromkeys(modalities)
    ]
    codings = [(c["system"], c["code"]) for c in report["code"]["coding"]]
    assert codings.count(REPORT_CODE_SLICE) == 1  # the slice, at most once
    assert (LOINC, "18748-4") in codings  # what TR-0042 §5.1 names, via JP Core
    for element in REPORT_MUST_SUPPORT:
        if element == "resultsInterpreter" and record.verifier is None:
            continue  # a preliminary report has no verifier yet
        assert report.get(element), f"Must Support element {element} is empty"
    assert "effectivePeriod" not in report  # effective[x] only dateTime
    for element, allowed in REPORT_REFERENCE_TYPES.items():
        if element not in report:
            continue
        refs = report[element] if isinstance(report[element], list) else [report[element]]
        kinds = {by_url[r["reference"]]["resourceType"] for r in refs}
        assert kinds <= allowed, f"{element} refers to {kinds - allowed}"
    # media: the key images (JP Core: キーイメージ), each link a Media of the DICOM instance.
    linked = [by_url[m["link"]["reference"]] for m in report["media"]]
    assert [m["resourceType"] for m in linked] == ["Media"] * len(record.key_images)
    assert [m["content"]["url"] for m in linked] == [
        f"urn:oid:{k.sop_uid}" for k in record.key_images
    ]
    assert report["conclusion"] == record.sections.impression
    assert record.sections.findings.splitlines()[0] in report["text"]["div"]


@pytest.mark.parametrize("name", sorted(_RECORDS))
def test_findings_and_impression_meet_their_observation_profiles(name: str) -> None:
    record = _RECORDS[name]
    report, by_url = _bundle(record)
    results = [by_url[r["reference"]] for r in report["result"]]
    found: dict[str, str] = {}
    for obs in results:
        for profile in (obs.get("meta") or {}).get("profile", []):
            if profile not in OBSERVATION_PROFILES:
                continue
            code = OBSERVATION_PROFILES[profile]
            assert [(c["system"], c["code"]) for c in obs["code"]["coding"]] == [(LOINC, code)]
            first = obs["category"][0]["coding"]
            assert [(c["system"], c["code"]) for c in first] == [OBSERVATION_CATEGORY]
            assert isinstance(obs["valueString"], str) and obs["valueString"]
            assert not any(k.startswith("value") and k != "valueString" for k in obs)
            assert by_url[obs["subject"]["reference"]]["resourceType"] == "Patient"
            assert obs["status"] == report["status"]
            found[code] = obs["valueString"]
    assert found == {"18782-3": record.sections.findings, "19005-8": record.sections.impression}


def test_institution_is_not_a_performer_and_still_reads_back() -> None:
    record = _RECORDS["with institution"]
    report, by_url = _bundle(record)
    assert {by_url[r["reference"]]["resourceType"] for r in report["performer"]} == {"Practitioner"}
    assert from_fhir(to_fhir(record)).institution == "千代田総合病院"


def test_older_bundle_with_an_organization_performer_still_reads() -> None:
    """Bundles written before the JP Core check named the institution as a performer."""
    record = _RECORDS["with institution"]
    bundle = json.loads(to_fhir(record))
    report = bundle["entry"][0]["resource"]
    [ext] = [e for e in report["extension"] if "valueReference" in e]
    report["extension"].remove(ext)
    report["performer"].append(ext["valueReference"])
    assert from_fhir(json.dumps(bundle).encode()).institution == "千代田総合病院"
