"""Reporting in the web application (issue 10 §4) in a real browser: raddx over real HTTP,
Debian's Chromium driven by playwright-core (``ui/e2e/reporting.mjs``).

A radiologist opens the reading list (the STAT order first, the patient in kanji with kana),
writes a Japanese report on the study, loses the session while typing (the cookie is
cleared) and finds, after logging in again, the text restored and saved; submits it as
preliminary (一次読影); a technologist sees no Finalise button and a direct POST is refused
(403); the radiologist adds the viewer's key image, finalises (二次読影), amends — the
session ends on the server while the amendment is typed, and after the login it is back —,
adds an addendum (kept across a reload), sees the version list, previews the PDF (200,
application/pdf), and the study leaves the reading list. Screenshots in
``build/e2e-screenshots/reporting/``.
"""

from __future__ import annotations

import httpx
from e2e_support import add_user, run_scenario, screenshots
from pydicom.uid import generate_uid

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from helpers import bare_url
from raddx.reports import store
from raddx.ris import OrderCreate, PatientData, ProcedureCreate, place_order
from raddx.services import Services

DOCTOR, DOCTOR_PASSWORD = "dr-tanaka", "correct horse battery staple 9"
TECH, TECH_PASSWORD = "rt-ito", "another long passphrase 10"


def _store(services: Services, **kwargs: object) -> tuple[str, str, str, str]:
    ds = make_dataset(charset="ISO_IR 192", **kwargs)  # type: ignore[arg-type]
    services.ingest.store(to_part10(ds), source="test")
    return (
        str(ds.StudyInstanceUID),
        str(ds.SeriesInstanceUID),
        str(ds.SOPInstanceUID),
        str(ds.SOPClassUID),
    )


def test_reporting_in_chromium(e2e_ready: None, services: Services, http_url: str) -> None:
    add_user(services, DOCTOR, "radiologist", DOCTOR_PASSWORD)
    add_user(services, TECH, "technologist", TECH_PASSWORD)
    # A routine study first (older), then the Japanese patient's STAT order and its CT.
    _store(services, patient_id="RP-002", patient_name="Doe^Jane", accession="ACC-RP-2")
    with services.session_factory() as session, session.begin():
        placed = place_order(
            OrderCreate(
                patient=PatientData("RP-001", "", JAPANESE_NAME),
                procedures=(ProcedureCreate(modality="CT", scheduled_start_date="20261126"),),
                accession_number="ACC-RP-1",
                priority="STAT",
            ),
            session=session,
        )
    study, series, sop, sop_class = _store(
        services,
        study_uid=placed.study_instance_uids[0],
        series_uid=generate_uid(),
        patient_id="RP-001",
        patient_name=JAPANESE_NAME,
        accession="ACC-RP-1",
        study_description="胸部CT",
    )
    base = bare_url(http_url)
    assert httpx.get(f"{base}/ui/").status_code == 200

    shots = screenshots("reporting")
    output = run_scenario(
        "reporting.mjs",
        base,
        DOCTOR,
        DOCTOR_PASSWORD,
        TECH,
        TECH_PASSWORD,
        str(shots),
        study,
        series,
        sop,
        sop_class,
        timeout=300,
    )
    for check in (
        "ok: the STAT study is first on the reading list",
        "ok: the patient shows in kanji with kana",
        "ok: a draft is created for the study",
        "ok: the draft is saved to the server while typing",
        "ok: an expired session shows the login",
        "ok: after login the typed text is back in the editor",
        "ok: and the server has it",
        "ok: submitted as preliminary",
        "ok: a technologist sees no Finalise button",
        "ok: a technologist's direct POST to finalise is refused (403)",
        "ok: the viewer's key image is added to the report",
        "ok: finalised with the radiologist as verifier",
        "ok: the version list shows who and when",
        "ok: the PDF preview loads (200, application/pdf)",
        "ok: the session is ended server-side while an amendment is typed",
        "ok: after login the unsigned amendment is back",
        "ok: an unsigned addendum survives a reload",
        "ok: an amendment and an addendum make versions 2 and 3",
        "ok: a cancelled draft leaves its study unreported",
        "ok: the reading list speaks English too",
        "ok: the reported study leaves the reading list",
        "ok: the study page links to its report",
        "ok: a second window's save does not overwrite the first window's text",
        "ok: after reloading, the saved text is in the editor and the unsaved one shown beside it",
    ):
        assert check in output, output
    # What the browser did is what the server holds.
    with services.session_factory() as session:
        (report_id,) = {
            r.report_id
            for r in store.iter_records(
                session=session, selection=store.ReportSelection(study_uid=study)
            )
        }
        record = store.load(session=session, report_id=report_id)
        first = store.load(session=session, report_id=report_id, version=1)
    assert (record.version, record.status.value) == (3, "amended")
    assert "右肺上葉" in first.sections.findings and "セッション切れの後" in first.sections.findings
    assert first.verifier is not None and first.verifier.name == DOCTOR
    assert [k.sop_uid for k in record.key_images] == [sop]
    assert record.addenda[0].text == "造影検査を推奨。"
    assert record.sections.impression.endswith("縦隔リンパ節腫大なし。")
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "01-reading-list.png",
        "02-editor-draft.png",
        "03-session-expired-login.png",
        "04-text-restored.png",
        "05-technologist.png",
        "06-final.png",
        "07-reading-list-after.png",
        "08-two-windows-conflict.png",
    ]
