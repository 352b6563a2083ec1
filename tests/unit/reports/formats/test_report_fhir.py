"""FHIR R4 JP Core report bundle (raddx.reports.formats.fhir): structure checked with
fhir.resources (R4B models), the JP Core fixed codes checked by hand."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.bundle import Bundle

from raddx.reports import ReportStatusValues
from raddx.reports.formats.fhir import from_fhir, to_fhir
from raddx.reports.samples import sample_record

LOINC = "http://loinc.org"


def _resources(data: bytes) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for entry in json.loads(data)["entry"]:
        out.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return out


def test_bundle_is_valid_r4_and_reads_back() -> None:
    record = sample_record(3)
    data = to_fhir(record)
    Bundle.model_validate_json(data)  # raises on any structural error
    assert from_fhir(data) == record


def test_jp_core_fixed_codes() -> None:
    res = _resources(to_fhir(sample_record(3)))
    (report,) = res["DiagnosticReport"]
    assert report["meta"]["profile"] == [  # type: ignore[index]
        "http://jpfhir.jp/fhir/core/StructureDefinition/JP_DiagnosticReport_Radiology"
    ]
    assert report["code"]["coding"][0] == {  # type: ignore[index]
        "system": LOINC,
        "code": "18748-4",
        "display": "Diagnostic imaging study",
    }
    categories = [c["coding"][0]["code"] for c in report["category"]]  # type: ignore[attr-defined]
    assert categories == ["LP29684-5", "CT"]
    codes = {o["code"]["coding"][0]["code"] for o in res["Observation"]}  # type: ignore[index]
    assert {"18782-3", "19005-8"} <= codes
    assert report["status"] == "final" and report["conclusion"]
    (patient,) = res["Patient"]
    uses = [n["extension"][0]["valueCode"] for n in patient["name"]]  # type: ignore[attr-defined]
    assert uses == ["IDE", "SYL", "ABC"]


@pytest.mark.parametrize(
    ("status", "fhir"),
    [(ReportStatusValues.PRELIMINARY, "preliminary"), (ReportStatusValues.DRAFT, "registered")],
)
def test_status_mapping(status: ReportStatusValues, fhir: str) -> None:
    record = sample_record(1, status=status)
    data = to_fhir(record)
    Bundle.model_validate_json(data)
    assert _resources(data)["DiagnosticReport"][0]["status"] == fhir
    assert from_fhir(data) == record


def test_bundle_without_diagnostic_report_is_refused() -> None:
    bundle = json.loads(to_fhir(sample_record(1)))
    bundle["entry"] = [
        e for e in bundle["entry"] if e["resource"]["resourceType"] != "DiagnosticReport"
    ]
    with pytest.raises(ValueError, match="no DiagnosticReport"):
        from_fhir(json.dumps(bundle))


@pytest.mark.parametrize("data", [b"{not json", b'{"resourceType": "Patient"}'])
def test_not_a_bundle_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"not JSON|not a FHIR Bundle"):
        from_fhir(data)
