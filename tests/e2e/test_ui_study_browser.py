"""The web application's study browser in a real browser (issue 10): raddx over real HTTP,
a real user logging in with a password (session cookie), Debian's Chromium driven by
playwright-core (``ui/e2e/study_browser.mjs``): kana search shows the kanji name, sorting,
server-side sort across pages kept in the URL (reload, back), the referring physician
and report status filters and column, keyboard navigation of the list, labels, the study
page with series thumbnails, the viewer (Cornerstone3D: scroll, window presets), paging,
Japanese/English, logout. Screenshots of
each page go to ``build/e2e-screenshots/``.

Skips when node, Chromium, the built UI (``make ui``) or ui/node_modules is missing, unless
``RADDX_REQUIRE_E2E=1`` (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import httpx
from e2e_support import add_user, run_scenario, screenshots
from pydicom.uid import generate_uid

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from helpers import bare_url
from raddx.archive.ingest import blob_key_for
from raddx.reports import ReportStatusValues
from raddx.reports import store as report_store
from raddx.reports.samples import sample_record
from raddx.services import Services

USER, PASSWORD = "dr-suzuki", "correct horse battery staple 7"
AUDITOR, AUDITOR_PASSWORD = "auditor-sato", "another long passphrase 8"


def _study(
    services: Services,
    study_date: str,
    instance_number: int = 1,
    referring: str = "",
    **kwargs: object,
) -> str:
    """One CT image (64x64, a disc whose radius grows with ``instance_number``)."""
    ds = make_dataset(charset="ISO_IR 192", **kwargs)  # type: ignore[arg-type]
    ds.StudyDate = study_date
    ds.ReferringPhysicianName = referring
    ds.InstanceNumber = instance_number
    ds.Rows = ds.Columns = 64
    radius = 6 * instance_number
    ds.PixelData = b"".join(
        (2024 if (x - 32) ** 2 + (y - 32) ** 2 < radius**2 else 24).to_bytes(2, "little")
        for y in range(64)
        for x in range(64)
    )
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.PixelSpacing = [0.5, 0.5]
    ds.ImagePositionPatient = [0, 0, instance_number]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    services.ingest.store(to_part10(ds), source="test")
    return str(ds.SOPInstanceUID)


def _break(services: Services, sop_instance_uid: str) -> None:
    """Damage a stored object on disk (a failing disk, a bad restore): its file no longer
    parses as DICOM, while the index still lists it."""
    path = services.blobs.root / str(blob_key_for(sop_instance_uid))
    assert path.is_file(), path
    path.write_bytes(b"\0" * 64)


def test_study_browser_in_chromium(e2e_ready: None, services: Services, http_url: str) -> None:
    add_user(services, USER, "radiologist", PASSWORD)
    add_user(services, AUDITOR, "auditor", AUDITOR_PASSWORD)  # no archive.read
    # The Japanese patient's CT: three images, the first of them broken on disk.
    yamada_study, yamada_series = generate_uid(), generate_uid()
    yamada = [
        _study(
            services,
            "20261120",
            instance_number=number,
            patient_id="JP001",
            patient_name=JAPANESE_NAME,
            accession="ACC-CT-1",
            study_description="胸部CT",
            study_uid=yamada_study,
            series_uid=yamada_series,
            referring="Naika^Jirou=内科^次郎=ないか^じろう",
        )
        for number in (1, 2, 3)
    ]
    _break(services, yamada[0])
    _study(services, "20250101", patient_id="PID002", patient_name="Doe^Jane", modality="MR")
    # Five CT images of one series for the viewer: a disc growing from slice to slice.
    # A short Study Instance UID: the sample report names its key image's series "<study>.1".
    study_uid, series_uid = generate_uid(prefix=None)[:40], generate_uid()
    for number in range(1, 6):
        _study(
            services,
            "20260301",
            patient_id="JP003",
            patient_name="Suzuki^Hanako=鈴木^花子=すずき^はなこ",
            accession="ACC-CT-3",
            study_uid=study_uid,
            series_uid=series_uid,
            instance_number=number,
        )
    # Suzuki's study has a final report (the report status column and filter).
    with services.session_factory.begin() as session:
        report_store.insert_version(
            session=session,
            record=sample_record(1, status=ReportStatusValues.FINAL, study_uid=study_uid),
            first=True,
        )
    for n in range(1, 12):  # for paging: 11 studies, ten per page
        _study(services, "20240101", patient_id=f"FILL{n:02d}", patient_name=f"Fill^{n:02d}")
    base = bare_url(http_url)
    # The application is served by the same process, without credentials.
    page = httpx.get(f"{base}/ui/")
    assert page.status_code == 200
    assert '<main id="main"' in page.text

    shots = screenshots("study-browser")
    output = run_scenario(
        "study_browser.mjs", base, USER, PASSWORD, str(shots), AUDITOR, AUDITOR_PASSWORD
    )
    for check in (
        "ok: a wrong password is refused with a message",
        "ok: the row shows the kanji name",
        "ok: Space selects the focused row",
        "ok: Enter opens the study's page",
        "ok: the series thumbnail loads, with alt text",
        "ok: the study page lists its report with its date and author",
        "ok: the next page holds the eleventh study",
        "ok: page 2 continues the server's name order (Fill 11)",
        "ok: reloading the URL shows the same sorted page",
        "ok: the browser's back button returns to page 1",
        "ok: a kana search by referring physician finds that study",
        "ok: the report status column shows the final report (確定)",
        "ok: the report status filter finds the study with a final report",
        "ok: the viewer opens the series at its middle image (3/5)",
        "ok: ArrowDown scrolls to the next image",
        "ok: the lung preset sets window 1500 / level -600",
        "ok: a broken instance is named (instance 1) while the others load",
        "ok: every input has a label",
        "ok: after logout the API refuses the browser (401)",
        "ok: a study link opened while logged out leads, after login, to that study",
        "ok: a role without archive.read opening a study link is refused",
    ):
        assert check in output, output
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "01-login.png",
        "02-studies-kana-search.png",
        "02b-viewer-broken-instance.png",
        "03-studies-keyboard.png",
        "04-study-detail.png",
        "05-viewer.png",
        "05b-studies-sorted-by-name.png",
        "05c-studies-report-status.png",
        "06-studies-english.png",
        "07-study-refused.png",
    ]
