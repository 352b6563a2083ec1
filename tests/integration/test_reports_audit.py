"""Report view and signature are audited: DICOM Instances Accessed R (view) and U (final),
naming the patient, the report version and its study; valid against PS3.15 A.5.1."""

from __future__ import annotations

import httpx

from audit_schema import assert_valid
from dicom_factory import make_dataset, to_part10
from raddx.security import audit
from raddx.security.atna import AuditSource, to_xml
from raddx.services import Services

SOURCE = AuditSource(source_id="RADDX@test", ae_title="RADDX", host="127.0.0.1", process_id=1)
STUDY = "1.2.392.200036.9116.2.6.1.777"
DRAFT = {
    "report_id": "R-AUD-1",
    "patient": {"patient_id": "P777", "name_kanji": "山田^太郎", "name_alpha": "Yamada^Taro"},
    "order": {"accession_no": "A777", "procedure_name": "胸部CT"},
    "studies": [{"study_uid": STUDY, "modalities": ["CT"]}],
    "sections": {"findings": "所見なし。", "impression": "異常なし。"},
    "author": {"name": "読影^一郎", "id": "D1"},
    "created_at": "2024-04-01T09:00:00+09:00",
}
VERIFIER = {"verifier": {"name": "確定^花子", "id": "D2"}, "at": "2024-04-01T11:00:00+09:00"}


def test_report_view_and_sign_are_audited(services: Services, http_url: str) -> None:
    ds = make_dataset(study_uid=STUDY, accession="A777", patient_id="P777")
    services.ingest.store(to_part10(ds), source="test")  # a report is about a stored study
    # Finalising renders the PDF and stores SR, KOS and PDF into the archive: seconds on a
    # loaded 2-core machine, more than httpx's default 5 s timeout (seen once).
    with httpx.Client(base_url=http_url, timeout=60) as client:
        assert client.post("/api/reports", json=DRAFT).status_code == 201
        with audit.capture() as events:
            assert client.get("/api/reports/R-AUD-1").status_code == 200
            assert client.post("/api/reports/R-AUD-1/final", json=VERIFIER).status_code == 200
    accessed = [e for e in events if e.event_id.code.code == "110103"]
    assert [(e.action.value, e.patient_id) for e in accessed] == [("R", "P777"), ("U", "P777")]
    root = assert_valid(to_xml(accessed[1], SOURCE))
    report = root.xpath("ParticipantObjectIdentification[@ParticipantObjectTypeCodeRole='3']")
    assert [r.get("ParticipantObjectID") for r in report] == [STUDY, "R-AUD-1/1"]
    patient = root.xpath("ParticipantObjectIdentification[@ParticipantObjectTypeCodeRole='1']")[0]
    assert patient.findtext("ParticipantObjectName") == "Yamada^Taro"
