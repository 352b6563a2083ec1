"""The diagnostic viewer's tools in a real browser (issue 10 §2): raddx over real HTTP, a
radiologist logged in, Debian's Chromium driven by ``ui/e2e/viewer_tools.mjs``: a length drawn
by mouse matches the Pixel Spacing, an ROI over a region of known HU shows that mean (Rescale
Slope 2 and Intercept -1024 applied), an angle, deleting and clearing measurements, cine on a
multi-frame ultrasound clip advances frames, the 1×2 layout shows two series, the report panel
shows the finalised report's impression, and a key image marked in the viewer is kept in
localStorage (the report editor's contract). Screenshots go to
``build/e2e-screenshots/viewer-tools/``.
"""

from __future__ import annotations

import httpx
from e2e_support import add_user, run_scenario, screenshots
from pydicom.uid import UltrasoundMultiFrameImageStorage, generate_uid

from dicom_factory import make_dataset, to_part10
from helpers import api_token, bare_url
from raddx.archive.measurement_store import list_measurements
from raddx.services import Services

USER, PASSWORD = "dr-tanaka", "viewer tools passphrase 42"
NAME = "Tanaka^Ichiro=田中^一郎=たなか^いちろう"
SIZE, SPACING = 128, 0.5
#: The square in the middle of each CT image: HU 40 (stored 532 with slope 2, intercept -1024).
SQUARE_HU, BACKGROUND_HU = 40, -1000
IMPRESSION = "右肺上葉に 8 mm の結節。3 か月後の CT で経過観察。"


def _ct(services: Services, study: str, series: str, number: int, series_number: int) -> str:
    ds = make_dataset(
        charset="ISO_IR 192",
        patient_id="JP010",
        patient_name=NAME,
        accession="ACC-VT-1",
        study_uid=study,
        series_uid=series,
        study_description="胸部CT",
    )
    ds.SeriesNumber, ds.InstanceNumber = series_number, number
    ds.SeriesDescription = f"CT {series_number}"
    ds.Rows = ds.Columns = SIZE
    ds.RescaleSlope, ds.RescaleIntercept = 2, -1024
    ds.PixelSpacing = [SPACING, SPACING]
    ds.ImagePositionPatient = [0, 0, number]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    inside = (SQUARE_HU + 1024) // 2
    outside = (BACKGROUND_HU + 1024) // 2
    ds.PixelData = b"".join(
        (inside if 32 <= x < 96 and 32 <= y < 96 else outside).to_bytes(2, "little")
        for y in range(SIZE)
        for x in range(SIZE)
    )
    services.ingest.store(to_part10(ds), source="test")
    return str(ds.SOPInstanceUID)


def _us_clip(services: Services, study: str, frames: int = 12) -> None:
    """An ultrasound clip: ``frames`` frames of 64×64, 8 bit, 100 ms each (10 fps)."""
    ds = make_dataset(
        charset="ISO_IR 192",
        patient_id="JP010",
        patient_name=NAME,
        accession="ACC-VT-1",
        study_uid=study,
        modality="US",
        sop_class=UltrasoundMultiFrameImageStorage,
    )
    ds.SeriesNumber, ds.SeriesDescription = 3, "US clip"
    ds.Rows = ds.Columns = 64
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = frames
    ds.FrameTime = 100
    ds.FrameIncrementPointer = 0x00181063
    ds.PixelData = b"".join(
        bytes([(16 * f + x) % 256 for x in range(64)]) * 64 for f in range(frames)
    )
    for tag in ("RescaleSlope", "RescaleIntercept"):
        if tag in ds:
            delattr(ds, tag)
    services.ingest.store(to_part10(ds), source="test")


def test_viewer_tools_in_chromium(e2e_ready: None, services: Services, http_url: str) -> None:
    add_user(services, USER, "radiologist", PASSWORD)
    study, first, second = generate_uid(), generate_uid(), generate_uid()
    first_images = [_ct(services, study, first, n, series_number=1) for n in range(1, 6)]
    for number in range(1, 4):
        _ct(services, study, second, number, series_number=2)
    _us_clip(services, study)
    base = bare_url(http_url)
    # A finalised report of the study, through the public REST API.
    admin = {"Authorization": f"Bearer {api_token(services)}"}
    # Finalising renders a PDF and stores SR + PDF into the study: seconds on a busy machine.
    with httpx.Client(base_url=base, headers=admin, timeout=120) as api:
        created = api.post(
            "/api/reports",
            json={
                "report_id": "R-VW-1",
                "patient": {"patient_id": "JP010", "name_kanji": "田中^一郎"},
                "order": {"accession_no": "ACC-VT-1"},
                "studies": [{"study_uid": study, "modalities": ["CT", "US"]}],
                "sections": {"findings": "右肺上葉に結節影。", "impression": IMPRESSION},
                "author": {"name": "読影^一郎", "id": "D1"},
            },
        )
        assert created.status_code == 201, created.text
        final = api.post(
            "/api/reports/R-VW-1/final",
            json={"verifier": {"name": "確定^花子", "id": "D2"}},
        )
        assert final.status_code == 200, final.text

    shots = screenshots("viewer-tools")
    output = run_scenario(
        "viewer_tools.mjs",
        base,
        USER,
        PASSWORD,
        str(shots),
        study,
        first,
        str(SPACING),
        str(SIZE),
        str(SQUARE_HU),
        IMPRESSION,
        timeout=300,
    )
    for check in (
        "ok: the toolbar marks the active tool (aria-pressed)",
        "ok: at most the first image is fetched as a frame, the rest in one series stream",
        "ok: a length drawn by mouse matches the pixel spacing",
        "ok: an ROI over the square shows its mean HU",
        "ok: an angle drawn by mouse is listed",
        "ok: the three measurements are saved with the study",
        "ok: the saved report is listed with its author after reopening",
        "ok: the saved measurements are drawn again on their image with the same values",
        "ok: saving again files nothing twice",
        "ok: a measurement can be deleted",
        "ok: clear removes every measurement",
        "ok: cine on the multi-frame clip advances frames",
        "ok: cine pauses",
        "ok: the 1x2 layout shows two series",
        "ok: the report panel shows the final report's impression",
        "ok: a key image is kept in localStorage",
        "ok: the key image is listed and marked on the image",
        "ok: unmarking removes it from localStorage",
        "ok: the viewer's tools, panels and report status are in Japanese",
        "ok: no script errors",
    ):
        assert check in output, output
    assert {p.name for p in shots.glob("*.png")} >= {
        "01-measurements.png",
        "02-cine.png",
        "03-side-by-side.png",
        "04-key-image.png",
        "05-viewer-japanese.png",
        "01b-measurements-reopened.png",
    }
    # What another viewer finds in the archive: one Measurement Report by this user, holding
    # the length, the ROI and the angle drawn on the first series' fourth image.
    with services.session_factory() as session:
        [saved] = list_measurements(session=session, blobs=services.blobs, study_uid=study)
    assert saved.observer == USER
    assert sorted(m.kind for m in saved.measurements) == ["angle", "ellipse", "length"]
    assert {m.sop_instance_uid for m in saved.measurements} == {first_images[3]}
