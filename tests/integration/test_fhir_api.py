"""``/fhir`` over real HTTP on SQLite and PostgreSQL: CapabilityStatement, Patient,
ServiceRequest (read, search, create as an order) and ImagingStudy with its WADO-RS
Endpoint. Every resource answered is validated with fhir.resources (R4B models)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydicom.uid import generate_uid

from dicom_factory import make_dataset, to_part10
from raddx.reports.profile import FHIR
from raddx.ris.jj1017_master import MasterEntry, import_master
from raddx.services import Services

FHIR_JSON = "application/fhir+json"
CT_CHEST = "6000000200000000" + "0" * 16
UNKNOWN = "1000000200000000" + "0" * 16
JP_PATIENT = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"
IDE_SYL = FHIR.name_representation_url


def _valid(resource: dict[str, Any]) -> dict[str, Any]:
    """Validate with fhir.resources; a Bundle's entries are validated with it."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def _get(url: str, **params: Any) -> dict[str, Any]:
    # httpx replaces a URL's own query with ``params`` (next links carry theirs).
    response = httpx.get(url, params=params) if params else httpx.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    return _valid(response.json())


def _outcome(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = _valid(response.json())
    assert body["resourceType"] == "OperationOutcome"
    assert text in body["issue"][0]["diagnostics"]


def _ids(bundle: dict[str, Any]) -> list[str]:
    assert bundle["type"] == "searchset"
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def _name(use: str, family: str, given: str) -> dict[str, Any]:
    return {
        "extension": [{"url": IDE_SYL, "valueCode": use}],
        "family": family,
        "given": [given],
    }


def _request(**overrides: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "contained": [
            {
                "resourceType": "Patient",
                "id": "p",
                "identifier": [
                    {"system": "urn:oid:1.2.392.100495.20.3.51.11234567890", "value": "JP7"}
                ],
                "name": [_name("IDE", "山田", "太郎"), _name("SYL", "ヤマダ", "タロウ")],
                "gender": "male",
                "birthDate": "1980-02-29",
            }
        ],
        "status": "active",
        "intent": "order",
        "subject": {"reference": "#p"},
        "identifier": [
            {
                "type": {"coding": [{"system": FHIR.accession_type_system, "code": "PLAC"}]},
                "value": "EHR-1",
            }
        ],
        "code": {"coding": [{"system": FHIR.procedure_code_system, "code": CT_CHEST}]},
        "occurrenceDateTime": "2026-11-26T09:30:00+09:00",
        "priority": "urgent",
        "requester": {"display": "内科 佐藤"},
    }
    resource.update(overrides)
    return resource


def _post(http_url: str, resource: dict[str, Any], content_type: str = FHIR_JSON) -> httpx.Response:
    import json

    return httpx.post(
        f"{http_url}/fhir/ServiceRequest",
        content=json.dumps(resource, ensure_ascii=False).encode(),
        headers={"content-type": content_type},
    )


@pytest.fixture
def master(services: Services) -> None:
    with services.session_factory() as session, session.begin():
        import_master(
            [MasterEntry(row=2, code=CT_CHEST, name="胸部単純CT", modality="CT")],
            [],
            session=session,
            source="test",
        )


def test_metadata(http_url: str) -> None:
    statement = _get(f"{http_url}/fhir/metadata")
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    types = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(types) == {"Patient", "ServiceRequest", "ImagingStudy", "Endpoint"}
    assert {"code": "create"} in types["ServiceRequest"]["interaction"]
    assert types["Patient"]["supportedProfile"] == [JP_PATIENT]


def test_create_read_search_service_request(http_url: str, master: None) -> None:
    created = _post(http_url, _request())
    assert created.status_code == 201, created.text
    resource = _valid(created.json())
    assert urlsplit(created.headers["location"]).path == f"/fhir/ServiceRequest/{resource['id']}"
    assert "warning" not in created.headers
    assert resource["status"] == "active" and resource["priority"] == "urgent"
    assert resource["code"]["coding"] == [
        {"system": FHIR.procedure_code_system, "code": CT_CHEST, "display": "胸部単純CT"}
    ]
    assert resource["code"]["text"] == "胸部単純CT"
    assert resource["orderDetail"][0]["coding"][0]["code"] == "CT"  # from the master
    assert resource["occurrenceDateTime"] == "2026-11-26T09:30:00+09:00"
    accession = next(
        i["value"] for i in resource["identifier"] if i["type"]["coding"][0]["code"] == "ACSN"
    )
    assert accession.startswith("RX")
    assert _get(f"{http_url}/fhir/ServiceRequest/{resource['id']}") == resource

    # The order is in the RIS: the REST API lists it with its worklist step.
    order = httpx.get(f"{http_url}/api/orders/{accession}").json()
    assert order["placer_order_number"] == "EHR-1"
    assert order["steps"][0]["jj1017_code"] == CT_CHEST

    # The patient came from the contained resource: kanji and kana as IDE and SYL.
    patient_ref = resource["subject"]["reference"]
    patient = _get(f"{http_url}/fhir/{patient_ref}")
    assert patient["meta"]["profile"] == [JP_PATIENT]
    names = {n["extension"][0]["valueCode"]: (n["family"], n["given"]) for n in patient["name"]}
    assert names == {"IDE": ("山田", ["太郎"]), "SYL": ("ヤマダ", ["タロウ"])}
    assert (patient["gender"], patient["birthDate"]) == ("male", "1980-02-29")
    assert patient["identifier"][0] == {
        "system": "urn:oid:1.2.392.100495.20.3.51.11234567890",
        "value": "JP7",
    }

    url = f"{http_url}/fhir/ServiceRequest"
    assert _ids(_get(url, identifier=accession)) == [resource["id"]]
    assert _ids(_get(url, identifier="EHR-1")) == [resource["id"]]
    assert _ids(_get(url, patient=patient_ref)) == [resource["id"]]
    assert _ids(_get(url, status="active")) == [resource["id"]]
    assert _ids(_get(url, status="completed,revoked")) == []
    assert _ids(_get(url, code=f"{FHIR.procedure_code_system}|{CT_CHEST}")) == [resource["id"]]
    assert _ids(_get(url, authored="ge2026-01-01")) == [resource["id"]]
    assert _ids(_get(url, authored="lt2000")) == []
    _outcome(httpx.get(url, params={"status": "done"}), 400, "not a ServiceRequest status")
    _outcome(httpx.get(url, params={"authored": "sa2026"}), 400, "not supported")
    _outcome(httpx.get(f"{url}/999999"), 404, "no ServiceRequest/999999")
    # A superscript digit is a digit to str.isdigit but not to int(): 404, not a 500.
    _outcome(httpx.get(f"{url}/%C2%B9"), 404, "no ServiceRequest/¹")


def test_create_refusals(http_url: str, services: Services, master: None) -> None:
    # 400: not JSON, not a ServiceRequest, not valid R4 (status is a code, not a number).
    _outcome(_post(http_url, {"resourceType": "Patient"}), 400, "not a ServiceRequest")
    _outcome(_post(http_url, _request(status=5)), 400, "not a valid R4 ServiceRequest")
    bad_json = httpx.post(
        f"{http_url}/fhir/ServiceRequest", content=b"{", headers={"content-type": FHIR_JSON}
    )
    _outcome(bad_json, 400, "not JSON")
    _outcome(_post(http_url, _request(), "text/plain"), 415, "application/fhir+json")
    # 422: the RIS refuses it (JJ1017 wrong length / unknown modality digit, no date, no
    # modality, unknown Patient, not a new order).
    short = {"coding": [{"system": FHIR.procedure_code_system, "code": CT_CHEST[:31]}]}
    _outcome(_post(http_url, _request(code=short)), 422, "has 31 characters")
    unknown_digit = {"coding": [{"system": FHIR.procedure_code_system, "code": "J" + CT_CHEST[1:]}]}
    _outcome(_post(http_url, _request(code=unknown_digit)), 422, "unknown modality code 'J'")
    no_date = _request()
    del no_date["occurrenceDateTime"]
    _outcome(_post(http_url, no_date), 422, "occurrenceDateTime is required")
    not_in_master = {"coding": [{"system": FHIR.procedure_code_system, "code": UNKNOWN}]}
    _outcome(_post(http_url, _request(code=not_in_master)), 422, "no modality")
    _outcome(
        _post(http_url, _request(subject={"reference": "Patient/r999"})), 422, "no Patient/r999"
    )
    _outcome(_post(http_url, _request(status="completed")), 422, "a new order is 'active'")
    # 409: the placer order number is taken.
    assert _post(http_url, _request()).status_code == 201
    _outcome(_post(http_url, _request()), 409, "already exists")
    # An unknown code with a modality: accepted and flagged; refused by the setting.
    flagged = _post(
        http_url,
        _request(
            identifier=[],
            code=not_in_master,
            orderDetail=[{"coding": [{"system": FHIR.dicom_modality_system, "code": "CR"}]}],
        ),
    )
    assert flagged.status_code == 201, flagged.text
    assert f"not in the master: {UNKNOWN}" in flagged.headers["warning"]
    services.settings.jj1017_refuse_unknown = True
    refused = _post(
        http_url,
        _request(
            identifier=[],
            code=not_in_master,
            orderDetail=[{"coding": [{"system": FHIR.dicom_modality_system, "code": "CR"}]}],
        ),
    )
    _outcome(refused, 422, "not in the master")


def test_patient_search_kanji_kana_birthdate_gender(
    http_url: str, services: Services, master: None
) -> None:
    assert _post(http_url, _request()).status_code == 201
    # An archive-only patient (images, no order).
    ds = make_dataset(
        patient_id="IMG9",
        patient_name="Suzuki^Hanako=鈴木^花子=スズキ^ハナコ",
        charset="ISO_IR 192",
    )
    ds.PatientSex = "F"
    services.ingest.store(
        to_part10(
            ds,
        ),
        source="test",
    )
    url = f"{http_url}/fhir/Patient"
    everyone = _get(url)
    assert everyone["total"] == 2
    ris, archive = _ids(everyone)
    assert ris.startswith("r") and archive.startswith("a")
    assert _ids(_get(url, name="山田")) == [ris]
    assert _ids(_get(url, name="ヤマダ タロウ")) == [ris]
    assert _ids(_get(url, name="鈴木")) == [archive]
    assert _ids(_get(url, name="hanako")) == [archive]  # case-insensitive
    assert _ids(_get(url, **{"name:exact": "山田"})) == []
    assert _ids(_get(url, **{"name:exact": "山田 太郎"})) == [ris]
    assert _ids(_get(url, birthdate="1980-02-29")) == [ris]
    assert _ids(_get(url, birthdate="1980")) == [ris]
    assert _ids(_get(url, birthdate=["ge1970-01-01", "lt1980-01-01"])) == [archive]
    assert _ids(_get(url, gender="female")) == [archive]
    assert _ids(_get(url, identifier="JP7")) == [ris]
    assert _ids(_get(url, identifier=f"{FHIR.patient_id_system}|IMG9")) == [archive]
    assert _ids(_get(url, _id=archive)) == [archive]
    _outcome(httpx.get(url, params={"gender": "m"}), 400, "not male")
    _outcome(httpx.get(url, params={"birthdate": "1980-13-01"}), 400, "not a date")
    _outcome(httpx.get(url, params={"_count": 0}), 400, "_count")
    _outcome(httpx.get(f"{url}/x1"), 404, "no Patient/x1")
    _outcome(httpx.get(f"{url}/r999"), 404, "no Patient/r999")


def test_paging_next_links(http_url: str, services: Services) -> None:
    for n in range(5):
        ds = make_dataset(patient_id=f"PG{n}", patient_name=f"Page^{n}")
        services.ingest.store(to_part10(ds), source="test")
    seen: list[str] = []
    bundle = _get(f"{http_url}/fhir/Patient", _count=2)
    while True:
        assert bundle["total"] == 5
        seen += _ids(bundle)
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nxt:
            break
        parts = urlsplit(nxt[0])
        bundle = _get(f"{http_url}{parts.path}?{parts.query}")
    assert len(seen) == 5 and len(set(seen)) == 5


def test_imaging_study_with_series_instances_endpoint(
    http_url: str, services: Services, master: None
) -> None:
    created = _post(http_url, _request()).json()
    accession = next(i["value"] for i in created["identifier"] if i["system"].endswith(":acsn"))
    study = generate_uid()
    series = generate_uid()
    for number in (1, 2):
        ds = make_dataset(
            patient_id="JP7",
            patient_name="Yamada^Taro=山田^太郎=ヤマダ^タロウ",
            charset="ISO_IR 192",
            study_uid=study,
            series_uid=series,
            accession=accession,
        )
        ds.IssuerOfPatientID = "1.2.392.100495.20.3.51.11234567890"
        ds.InstanceNumber = number
        services.ingest.store(to_part10(ds), source="test")
    other = make_dataset(patient_id="MR1", modality="MR", accession="OTHER")
    other.StudyDate = "20250101"
    services.ingest.store(to_part10(other), source="test")

    resource = _get(f"{http_url}/fhir/ImagingStudy/{study}")
    assert resource["meta"]["profile"] == [
        "http://jpfhir.jp/fhir/core/StructureDefinition/JP_ImagingStudy_Radiology"
    ]
    assert {"system": "urn:dicom:uid", "value": f"urn:oid:{study}"} in resource["identifier"]
    assert resource["subject"] == created["subject"]  # the RIS patient of the order
    assert resource["basedOn"] == [{"reference": f"ServiceRequest/{created['id']}"}]
    assert (resource["numberOfSeries"], resource["numberOfInstances"]) == (1, 2)
    assert resource["started"] == "2026-11-25T10:10:10+09:00"
    (only,) = resource["series"]
    assert only["uid"] == series and only["modality"]["code"] == "CT"
    assert [i["number"] for i in only["instance"]] == [1, 2]
    assert resource["endpoint"] == [{"reference": "Endpoint/dicom-wado-rs"}]
    endpoint = _get(f"{http_url}/fhir/Endpoint/dicom-wado-rs")
    assert endpoint["connectionType"]["code"] == "dicom-wado-rs"
    wado = urlsplit(endpoint["address"]).path
    assert wado == "/dicom-web"
    # The endpoint is the real WADO-RS base: the study's metadata is there.
    metadata = httpx.get(f"{http_url}{wado}/studies/{study}/metadata")
    assert metadata.status_code == 200 and len(metadata.json()) == 2

    url = f"{http_url}/fhir/ImagingStudy"
    assert _ids(_get(url, patient=created["subject"]["reference"])) == [study]
    assert _ids(_get(url, identifier=f"urn:dicom:uid|urn:oid:{study}")) == [study]
    assert _ids(_get(url, identifier=accession)) == [study]
    assert _ids(_get(url, accession="OTHER")) == [str(other.StudyInstanceUID)]
    assert _ids(_get(url, modality="MR")) == [str(other.StudyInstanceUID)]
    both = _get(url, modality="CT,MR")
    assert sorted(_ids(both)) == sorted([study, str(other.StudyInstanceUID)])
    # A page of several studies: each lists its own series and instances only.
    for entry in both["entry"]:
        found = entry["resource"]
        counted = sum(len(s["instance"]) for s in found["series"])
        assert counted == found["numberOfInstances"] == (2 if found["id"] == study else 1)
    assert _ids(_get(url, started="ge2026-01-01")) == [study]
    assert _ids(_get(url, started=["ge2025-01-01", "lt2025-02"])) == [str(other.StudyInstanceUID)]
    page = _get(url, _count=1)
    assert len(_ids(page)) == 1 and any(link["relation"] == "next" for link in page["link"])
    _outcome(httpx.get(f"{url}/1.2.3.999"), 404, "no ImagingStudy/1.2.3.999")
    _outcome(httpx.get(f"{url}/not-a-uid"), 404, "no ImagingStudy/not-a-uid")
    _outcome(httpx.get(f"{http_url}/fhir/Endpoint/other"), 404, "no Endpoint/other")


def test_every_access_is_audited(http_url: str, services: Services, master: None) -> None:
    from raddx.security import audit
    from raddx.security.audit import EventActionCodeValues, EventIDValues

    with audit.capture() as events:
        created = _post(http_url, _request()).json()
        _get(f"{http_url}/fhir/{created['subject']['reference']}")
        _get(f"{http_url}/fhir/ServiceRequest", identifier="EHR-1")
        _get(f"{http_url}/fhir/ImagingStudy", modality="CT")
    seen = [(e.event_id, e.action, [p.patient_id for p in e.patients]) for e in events]
    assert seen == [
        (EventIDValues.ORDER_RECORD, EventActionCodeValues.CREATE, ["JP7"]),
        (EventIDValues.PATIENT_RECORD, EventActionCodeValues.READ, ["JP7"]),
        (EventIDValues.ORDER_RECORD, EventActionCodeValues.READ, ["JP7"]),
        (EventIDValues.QUERY, EventActionCodeValues.EXECUTE, []),
    ]
