"""REST API archive routes against a live server (uvicorn on loopback), on SQLite and
PostgreSQL: listing with filters and paging, Japanese names, soft delete seen through C-FIND
(DCMTK findscu) and QIDO-RS, restore, purge, statistics and problem+json errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.uid import generate_uid

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from helpers import basic_auth, run_tool
from raddx.services import Services

_JAPANESE_GROUPS = {
    "Alphabetic": "Yamada^Tarou",
    "Ideographic": "山田^太郎",
    "Phonetic": "やまだ^たろう",
}


@dataclass
class Archive:
    """A Japanese patient's CT study (two series: 2 + 1 images) and another patient's MR
    study (1 image)."""

    api: str
    ct_study: str
    ct_series: tuple[str, str]
    ct_sops: list[str]
    mr_study: str


@pytest.fixture
def archive(services: Services, http_url: str) -> Archive:
    ct_study, ct_series = generate_uid(), (generate_uid(), generate_uid())
    sops = []
    for series, count in zip(ct_series, (2, 1), strict=True):
        for number in range(1, count + 1):
            ds = make_dataset(
                patient_id="JP001",
                patient_name=JAPANESE_NAME,
                charset="ISO_IR 192",
                study_uid=ct_study,
                series_uid=series,
                accession="ACC-CT",
                study_description="胸部CT",
            )
            ds.InstanceNumber = number
            services.ingest.store(to_part10(ds), source="test")
            sops.append(str(ds.SOPInstanceUID))
    mr = make_dataset(patient_id="PID002", patient_name="Doe^Jane", modality="MR")
    mr.StudyDate = "20250101"
    services.ingest.store(to_part10(mr), source="test")
    return Archive(f"{http_url}/api", ct_study, ct_series, sops, str(mr.StudyInstanceUID))


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def test_list_studies_japanese_name_as_three_groups(archive: Archive) -> None:
    page = httpx.get(f"{archive.api}/studies", params={"PatientName": "山田*"}).json()

    assert page["next"] is None
    (study,) = page["items"]
    assert study["StudyInstanceUID"] == archive.ct_study
    assert study["PatientName"] == _JAPANESE_GROUPS
    assert study["StudyDescription"] == "胸部CT"
    assert study["ModalitiesInStudy"] == ["CT"]
    assert (study["NumberOfStudyRelatedSeries"], study["NumberOfStudyRelatedInstances"]) == (2, 3)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"PatientID": "JP001"}, "ct"),
        ({"PatientName": "yamada*"}, "ct"),  # case-insensitive PN with a wildcard
        ({"PatientName": "やまだ^たろう"}, "ct"),  # the phonetic group
        ({"StudyDate": "20260101-"}, "ct"),  # an open range (the CT is of 2026-11-25)
        ({"StudyDate": "-20251231"}, "mr"),
        ({"StudyDate": "20250101"}, "mr"),
        ({"AccessionNumber": "ACC-C?"}, "ct"),
        ({"ModalitiesInStudy": "MR"}, "mr"),
        ({"PatientName": "ヤマダ^タロウ", "fuzzymatching": "true"}, "ct"),  # katakana, fuzzy
        ({"PatientID": "NOBODY"}, None),
    ],
)
def test_study_filters_use_the_query_engine(
    archive: Archive, params: dict[str, str], expected: str | None
) -> None:
    items = httpx.get(f"{archive.api}/studies", params=params).json()["items"]
    found = [i["StudyInstanceUID"] for i in items]
    wanted = {"ct": [archive.ct_study], "mr": [archive.mr_study], None: []}[expected]
    assert found == wanted


def test_paging_with_next_link(archive: Archive) -> None:
    first = httpx.get(f"{archive.api}/instances", params={"limit": 2}).json()
    assert (len(first["items"]), first["limit"], first["offset"]) == (2, 2, 0)
    # The next link is the server's own absolute URL: the client's credentials go along.
    second = httpx.get(first["next"], auth=basic_auth(archive.api)).json()
    assert len(second["items"]) == 2 and second["next"] is None
    seen = {i["SOPInstanceUID"] for i in first["items"] + second["items"]}
    assert len(seen) == 4


def test_get_patient_series_instance(archive: Archive) -> None:
    patient = httpx.get(f"{archive.api}/patients/JP001").json()
    assert patient["PatientName"] == _JAPANESE_GROUPS
    assert patient["NumberOfPatientRelatedStudies"] == 1
    patients = httpx.get(f"{archive.api}/patients", params={"PatientName": "*"}).json()
    assert {p["PatientID"] for p in patients["items"]} == {"JP001", "PID002"}

    series = httpx.get(
        f"{archive.api}/series", params={"StudyInstanceUID": archive.ct_study}
    ).json()
    assert [s["NumberOfSeriesRelatedInstances"] for s in series["items"]] == [2, 1]
    one = httpx.get(f"{archive.api}/series/{archive.ct_series[1]}").json()
    assert (one["Modality"], one["StudyInstanceUID"]) == ("CT", archive.ct_study)

    instance = httpx.get(f"{archive.api}/instances/{archive.ct_sops[0]}").json()
    assert instance["SeriesInstanceUID"] == archive.ct_series[0]
    assert instance["InstanceNumber"] == 1
    study = httpx.get(f"{archive.api}/studies/{archive.ct_study}").json()
    assert study["AccessionNumber"] == "ACC-CT"


def test_statistics(archive: Archive) -> None:
    stats = httpx.get(f"{archive.api}/statistics").json()

    assert (stats["patients"], stats["studies"], stats["series"], stats["instances"]) == (
        2,
        2,
        3,
        4,
    )
    assert stats["stored_bytes"] > 4 * 64
    assert stats["modalities"] == [
        {"Modality": "CT", "series": 2, "instances": 3},
        {"Modality": "MR", "series": 1, "instances": 1},
    ]


def _findscu_studies(
    dcmtk: Callable[[str], str], server: tuple[str, int], out: Path, patient_id: str
) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("rsp*.dcm"):
        old.unlink()
    command = [dcmtk("findscu"), "-S", "-aec", "RADDX", "-X", "-od", str(out)]
    keys = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"PatientID={patient_id}"]
    result = run_tool([*command, *keys, "-k", "StudyInstanceUID", server[0], str(server[1])])
    assert result.returncode == 0, result.stderr
    return [str(pydicom.dcmread(p).StudyInstanceUID) for p in sorted(out.glob("rsp*.dcm"))]


@pytest.mark.dcmtk
def test_soft_delete_hides_from_findscu_qido_and_api_until_restored(
    archive: Archive,
    dimse_server: tuple[str, int],
    dcmtk: Callable[[str], str],
    http_url: str,
    tmp_path: Path,
) -> None:
    qido = f"{http_url}/dicom-web/studies"
    assert _findscu_studies(dcmtk, dimse_server, tmp_path / "a", "JP001") == [archive.ct_study]

    deleted = httpx.delete(f"{archive.api}/studies/{archive.ct_study}")

    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["instances"] == 3
    assert _findscu_studies(dcmtk, dimse_server, tmp_path / "b", "JP001") == []
    assert httpx.get(qido, params={"PatientID": "JP001"}).json() == []
    wado = httpx.get(f"{qido}/{archive.ct_study}/metadata")
    assert wado.status_code == 404
    _problem(httpx.get(f"{archive.api}/studies/{archive.ct_study}"), 404)
    _problem(httpx.get(f"{archive.api}/patients/JP001"), 404)
    assert httpx.get(f"{archive.api}/statistics").json()["deleted_instances"] == 3
    # Deleting it again: 409 (it exists, deleted); restore brings it back everywhere.
    _problem(httpx.delete(f"{archive.api}/studies/{archive.ct_study}"), 409)

    restored = httpx.post(f"{archive.api}/studies/{archive.ct_study}/restore")

    assert restored.status_code == 200 and restored.json()["instances"] == 3
    assert _findscu_studies(dcmtk, dimse_server, tmp_path / "c", "JP001") == [archive.ct_study]
    assert len(httpx.get(qido, params={"PatientID": "JP001"}).json()) == 1
    _problem(httpx.post(f"{archive.api}/studies/{archive.ct_study}/restore"), 409)


def test_delete_series_and_instance_recount(archive: Archive) -> None:
    assert httpx.delete(f"{archive.api}/series/{archive.ct_series[1]}").status_code == 200
    assert httpx.delete(f"{archive.api}/instances/{archive.ct_sops[0]}").status_code == 200

    study = httpx.get(f"{archive.api}/studies/{archive.ct_study}").json()
    assert (study["NumberOfStudyRelatedSeries"], study["NumberOfStudyRelatedInstances"]) == (1, 1)
    _problem(httpx.get(f"{archive.api}/instances/{archive.ct_sops[0]}"), 404)
    _problem(httpx.delete(f"{archive.api}/instances/{archive.ct_sops[0]}"), 409)
    assert httpx.post(f"{archive.api}/instances/{archive.ct_sops[0]}/restore").status_code == 200
    assert httpx.post(f"{archive.api}/series/{archive.ct_series[1]}/restore").status_code == 200
    study = httpx.get(f"{archive.api}/studies/{archive.ct_study}").json()
    assert study["NumberOfStudyRelatedInstances"] == 3


def test_purge_removes_rows_and_blobs(archive: Archive, services: Services) -> None:
    blobs_before = sum(1 for _ in services.blobs.list_blobs())
    httpx.delete(f"{archive.api}/studies/{archive.mr_study}")
    # Deleted just now: a 30-day purge keeps it (it can still be restored).
    kept = httpx.post(f"{archive.api}/purge", json={}).json()
    assert kept["instances"] == 0

    purged = httpx.post(f"{archive.api}/purge", json={"older_than_days": 0})

    assert purged.status_code == 200, purged.text
    body = purged.json()
    assert (body["patients"], body["studies"], body["series"], body["instances"]) == (1, 1, 1, 1)
    assert body["blobs_deleted"] == 1
    assert sum(1 for _ in services.blobs.list_blobs()) == blobs_before - 1
    _problem(httpx.post(f"{archive.api}/studies/{archive.mr_study}/restore"), 404)
    _problem(httpx.delete(f"{archive.api}/studies/{archive.mr_study}"), 404)
    stats = httpx.get(f"{archive.api}/statistics").json()
    assert (stats["patients"], stats["deleted_instances"]) == (1, 0)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "reason"),
    [
        ("GET", "/studies/1.2.3.999", {}, 404, "no study"),  # unknown UID
        ("GET", "/studies/1.2.abc", {}, 400, "uid"),  # not a UID
        ("GET", "/series/1.02.3", {}, 400, "uid"),  # leading zero: not a UID (PS3.5 9.1)
        ("DELETE", "/instances/1.2.3.999", {}, 404, "no instance"),
        ("GET", "/studies?limit=-1", {}, 400, "limit"),
        ("GET", "/studies?limit=0", {}, 400, "limit"),
        ("GET", "/studies?offset=-5", {}, 400, "offset"),
        ("GET", "/studies?StudyDate=2024-01-01x", {}, 400, "StudyDate"),  # engine's reason
        ("GET", "/patients/J*", {}, 400, "wildcard"),
        ("GET", "/nothing-here", {}, 404, "Not Found"),
        ("PUT", "/studies", {}, 405, "Method Not Allowed"),
        ("POST", "/purge", {"json": {"older_than_days": -1}}, 422, "older_than_days"),
        (
            "POST",
            "/purge",
            {"content": b"{", "headers": {"content-type": "application/json"}},
            422,
            "JSON",
        ),
    ],
)
def test_bad_input_is_problem_json(
    archive: Archive,
    method: str,
    path: str,
    kwargs: dict,
    status: int,
    reason: str,
) -> None:
    response = httpx.request(method, f"{archive.api}{path}", **kwargs)
    body = _problem(response, status)
    assert reason.lower() in (body["detail"] + str(body.get("errors"))).lower()
