"""The HTTP doors' audit events: QIDO-RS (Query), WADO-RS (Instances Transferred R),
STOW-RS (Instances Transferred C), REST deletion/restore (Instances Accessed D/U), and
``GET /api/audit`` (filters, paging; itself recorded as Audit Log Used)."""

from __future__ import annotations

import base64

import httpx

from audit_schema import assert_valid
from dicom_factory import make_dataset, to_part10
from helpers import wait_for
from raddx.security import audit
from raddx.security.atna import AuditSource, to_xml
from raddx.services import Services

SOURCE = AuditSource(source_id="RADDX@test", ae_title="RADDX", host="127.0.0.1", process_id=1)
CT = "1.2.840.10008.5.1.4.1.1.2"


def _of(events: list[audit.AuditEvent], code: str) -> list[audit.AuditEvent]:
    return [e for e in events if e.event_id.code.code == code]


def _stored_study(services: Services, patient_id: str, count: int = 2) -> str:
    first = make_dataset(patient_id=patient_id, patient_name="Web^Patient")
    for n in range(count):
        ds = make_dataset(patient_id=patient_id, patient_name="Web^Patient")
        ds.StudyInstanceUID = first.StudyInstanceUID
        ds.SeriesInstanceUID = first.SeriesInstanceUID
        ds.InstanceNumber = n + 1
        services.ingest.store(to_part10(ds), source="test")
    return str(first.StudyInstanceUID)


def test_qido_wado_each_audited(services: Services, http_url: str) -> None:
    study = _stored_study(services, "PAT-W")
    with audit.capture() as events, httpx.Client(base_url=http_url) as client:
        found = client.get("/dicom-web/studies", params={"PatientID": "PAT-W"})
        assert found.status_code == 200
        got = client.get(
            f"/dicom-web/studies/{study}",
            headers={"Accept": 'multipart/related; type="application/dicom"'},
        )
        assert got.status_code == 200
    [query] = _of(events, "110112")
    assert query.action.value == "E"
    assert query.participants[0].host == "127.0.0.1"
    assert query.user  # the principal's name, or "anonymous" where auth is off
    root = assert_valid(to_xml(query, SOURCE))
    asked = base64.b64decode(
        root.findtext("ParticipantObjectIdentification/ParticipantObjectQuery")
    )
    assert asked == b"/dicom-web/studies?PatientID=PAT-W"
    [sent] = _of(events, "110104")
    assert (sent.action.value, sent.patient_id) == ("R", "PAT-W")
    assert sent.patients[0].patient_name == "Web^Patient"
    assert sent.studies[0].sop_classes == ((CT, 2),)
    root = assert_valid(to_xml(sent, SOURCE))
    assert root.xpath("ActiveParticipant[RoleIDCode/@csd-code='110152']/@UserID") == [sent.user]


def test_stow_is_one_transfer_per_study(services: Services, http_url: str) -> None:
    boundary = "audit-boundary"
    parts = [to_part10(make_dataset(patient_id="PAT-S")) for _ in range(2)]
    body = (
        b"".join(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n"
            for p in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    with audit.capture() as events, httpx.Client(base_url=http_url) as client:
        stored = client.post(
            "/dicom-web/studies",
            content=body,
            headers={
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                "Accept": "application/dicom+json",
            },
        )
        assert stored.status_code == 200, stored.text
    transferred = _of(events, "110104")
    assert len(transferred) == 2  # two studies (make_dataset gives each its own)
    assert {(e.action.value, e.patient_id) for e in transferred} == {("C", "PAT-S")}
    assert_valid(to_xml(transferred[0], SOURCE))


def test_rest_delete_restore_and_audit_search(services: Services, http_url: str) -> None:
    study = _stored_study(services, "PAT-D", count=1)
    with audit.capture() as events, httpx.Client(base_url=http_url) as client:
        assert client.delete(f"/api/studies/{study}").status_code == 200
        assert client.post(f"/api/studies/{study}/restore").status_code == 200
        accessed = _of(events, "110103")
        assert [(e.action.value, e.patient_id) for e in accessed] == [
            ("D", "PAT-D"),
            ("U", "PAT-D"),
        ]
        assert services.audit.flush()
        page = client.get("/api/audit", params={"patient": "PAT-D", "limit": 1})
        assert page.status_code == 200, page.text
        body = page.json()
        assert [i["event_action_code"] for i in body["items"]] == ["D"]
        assert body["next"] is not None and "offset=1" in body["next"]
        second = client.get("/api/audit", params={"patient": "PAT-D", "limit": 1, "offset": 1})
        assert [i["event_action_code"] for i in second.json()["items"]] == ["U"]
        assert_valid(body["items"][0]["xml"].encode())
        bad = client.get("/api/audit", params={"event": "1' OR '1'='1"})
        assert bad.status_code in (400, 422)
        wait_for(lambda: len(_of(events, "110101")) == 2)
    used = _of(events, "110101")
    assert all(e.action.value == "R" for e in used)


def test_rest_listing_is_a_query(services: Services, http_url: str) -> None:
    _stored_study(services, "PAT-L", count=1)
    with audit.capture() as events, httpx.Client(base_url=http_url) as client:
        assert client.get("/api/studies", params={"PatientID": "PAT-L"}).status_code == 200
    [query] = _of(events, "110112")
    root = assert_valid(to_xml(query, SOURCE))
    asked = base64.b64decode(
        root.findtext("ParticipantObjectIdentification/ParticipantObjectQuery")
    )
    assert asked == b"/api/studies?PatientID=PAT-L"


def test_wado_uri_and_rendered_are_transfers(services: Services, http_url: str) -> None:
    ds = make_dataset(patient_id="PAT-U", patient_name="Uri^Patient")
    services.ingest.store(to_part10(ds), source="test")
    uids = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    params = {
        "requestType": "WADO",
        "studyUID": uids[0],
        "seriesUID": uids[1],
        "objectUID": uids[2],
        "contentType": "application/dicom",
    }
    with audit.capture() as events, httpx.Client(base_url=http_url) as client:
        assert client.get("/wado", params=params).status_code == 200
        rendered = client.get(
            "/dicom-web/studies/{}/series/{}/instances/{}/rendered".format(*uids),
            headers={"Accept": "image/png"},
        )
        assert rendered.status_code == 200, rendered.text
    sent = _of(events, "110104")
    assert [(e.action.value, e.patient_id) for e in sent] == [("R", "PAT-U"), ("R", "PAT-U")]
    assert sent[0].studies[0].sop_classes == ()  # WADO-URI: one object, class not read
    assert sent[1].studies[0].sop_classes == ((CT, 1),)
    assert_valid(to_xml(sent[0], SOURCE))


def test_rest_orders_each_audited_as_order_records(services: Services, http_url: str) -> None:
    """Placing, listing, reading, extending and cancelling an order through /api: one Order
    Record each (C, R, R, U, U) naming the order's patient."""
    order = {
        "patient_id": "PAT-O",
        "patient_name": "Yamada^Taro=山田^太郎=ヤマダ^タロウ",
        "procedures": [
            {"modality": "CT", "scheduled_start_date": "20261126", "scheduled_start_time": "0930"}
        ],
    }
    step = {"modality": "CT", "scheduled_start_date": "20261126", "scheduled_start_time": "1000"}
    with audit.capture() as events, httpx.Client(base_url=f"{http_url}/api") as client:
        placed = client.post("/orders", json=order)
        assert placed.status_code == 201, placed.text
        accession = placed.json()["accession_number"]
        assert client.get("/orders").status_code == 200
        assert client.get(f"/orders/{accession}").status_code == 200
        added = client.post(f"/orders/{accession}/steps", json=step)
        assert added.status_code == 201, added.text
        assert client.post(f"/orders/{accession}/cancel").status_code == 200
    records = _of(events, "110109")
    assert [(e.action.value, e.patient_id) for e in records] == [
        ("C", "PAT-O"),
        ("R", "PAT-O"),
        ("R", "PAT-O"),
        ("U", "PAT-O"),
        ("U", "PAT-O"),
    ]
    for event in records:
        assert_valid(to_xml(event, SOURCE))
