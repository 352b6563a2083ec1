"""QIDO-RS against a live server: dicomweb-client as the peer, httpx for headers and errors.

Runs on SQLite and PostgreSQL (the ``services`` fixture)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import httpx
import pytest
from dicomweb_client import DICOMwebClient
from pydicom.uid import generate_uid
from requests import HTTPError

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from helpers import bare_url, start_http_server
from raddx.config import Settings
from raddx.services import Services


@dataclass
class Archive:
    """What the fixture stored: a Japanese patient's CT study of two series (3 images) and
    another patient's MR study (1 image)."""

    url: str
    client: DICOMwebClient
    ct_study: str
    ct_series: tuple[str, str]
    mr_study: str
    mr_series: str
    mr_instance: str


@pytest.fixture
def archive(services: Services, http_url: str) -> Archive:
    ct_study, ct_series = generate_uid(), (generate_uid(), generate_uid())
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
    mr = make_dataset(patient_id="PID002", patient_name="Doe^Jane", modality="MR")
    mr.StudyDate = "20250101"
    services.ingest.store(to_part10(mr), source="test")
    url = f"{http_url}/dicom-web"
    return Archive(
        url=url,
        client=DICOMwebClient(url),
        ct_study=ct_study,
        ct_series=ct_series,
        mr_study=mr.StudyInstanceUID,
        mr_series=mr.SeriesInstanceUID,
        mr_instance=mr.SOPInstanceUID,
    )


def _values(result: dict, tag: str) -> list:
    return result.get(tag, {}).get("Value", [])


def test_search_for_studies_japanese_name_as_three_groups(archive: Archive) -> None:
    results = archive.client.search_for_studies(search_filters={"PatientID": "JP001"})
    assert len(results) == 1
    study = results[0]
    assert _values(study, "0020000D") == [archive.ct_study]
    assert study["00100010"] == {
        "vr": "PN",
        "Value": [
            {"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"}
        ],
    }
    assert _values(study, "00081030") == ["胸部CT"]
    assert _values(study, "00080061") == ["CT"]
    assert _values(study, "00201206") == [2]  # NumberOfStudyRelatedSeries
    assert _values(study, "00201208") == [3]
    assert _values(study, "00080056") == ["ONLINE"]
    # dicomweb-client sends "Host: 127.0.0.1" without the port; httpx sends it whole.
    assert _values(study, "00081190")[0].endswith(f"/dicom-web/studies/{archive.ct_study}")
    direct = httpx.get(f"{archive.url}/studies", params={"PatientID": "JP001"}).json()
    retrieve_url = f"{bare_url(archive.url)}/studies/{archive.ct_study}"
    assert _values(direct[0], "00081190") == [retrieve_url]
    assert "00080052" not in study  # QueryRetrieveLevel is not an attribute of the study


@pytest.mark.parametrize(
    ("filters", "fuzzy", "expected"),
    [
        ({"PatientName": "yamada*"}, False, "ct"),  # case-insensitive PN, wildcard
        ({"PatientName": "山田^太郎"}, False, "ct"),  # the ideographic group
        ({"PatientName": "ヤマダ^タロウ"}, False, None),  # katakana: only with fuzzy matching
        ({"PatientName": "ヤマダ^タロウ"}, True, "ct"),
        ({"StudyDate": "20250101-20250131"}, False, "mr"),  # range
        ({"ModalitiesInStudy": "MR"}, False, "mr"),
        ({"00100020": "PID002"}, False, "mr"),  # a tag instead of a keyword
        ({"AccessionNumber": "ACC-?T"}, False, "ct"),
    ],
)
def test_search_for_studies_matching(
    archive: Archive, filters: dict[str, str], fuzzy: bool, expected: str | None
) -> None:
    results = archive.client.search_for_studies(search_filters=filters, fuzzymatching=fuzzy)
    found = [_values(r, "0020000D")[0] for r in results]
    wanted = {"ct": [archive.ct_study], "mr": [archive.mr_study], None: []}[expected]
    assert found == wanted


def test_study_uid_list(archive: Archive) -> None:
    uids = f"{archive.ct_study},{archive.mr_study}"
    response = httpx.get(f"{archive.url}/studies", params={"StudyInstanceUID": uids})
    assert response.status_code == 200
    assert len(response.json()) == 2


def test_search_for_series_and_instances(archive: Archive) -> None:
    client = archive.client
    series = client.search_for_series(archive.ct_study)
    assert sorted(_values(s, "0020000E")[0] for s in series) == sorted(archive.ct_series)
    assert all(_values(s, "00080060") == ["CT"] for s in series)
    counts = {_values(s, "0020000E")[0]: _values(s, "00201209")[0] for s in series}
    assert counts == {archive.ct_series[0]: 2, archive.ct_series[1]: 1}
    instances = client.search_for_instances(archive.ct_study, archive.ct_series[0])
    assert sorted(_values(i, "00200013")[0] for i in instances) == [1, 2]
    assert all("00080018" in i and "00080016" in i for i in instances)
    assert len(client.search_for_instances(archive.ct_study)) == 3
    everything = client.search_for_instances()
    assert len(everything) == 4
    assert all("0020000D" in i and "0020000E" in i for i in everything)  # study/series too
    all_series = client.search_for_series(search_filters={"Modality": "MR"})
    assert [_values(s, "0020000D")[0] for s in all_series] == [archive.mr_study]
    assert "00080061" in all_series[0]  # study attributes come along with /series


def test_search_for_patients(archive: Archive) -> None:
    response = httpx.get(f"{archive.url}/patients", params={"PatientID": "JP001"})
    assert response.status_code == 200
    [patient] = response.json()
    assert patient["00100010"]["Value"][0]["Ideographic"] == "山田^太郎"
    assert patient["00201200"]["Value"] == [1]  # NumberOfPatientRelatedStudies


def test_includefield(archive: Archive) -> None:
    client = archive.client
    [study] = client.search_for_studies(
        search_filters={"PatientID": "PID002"}, fields=["InstitutionName", "00101010"]
    )
    assert "00080080" in study  # InstitutionName, returned empty
    assert "00101010" in study  # PatientAge by tag
    [full] = client.search_for_studies(search_filters={"PatientID": "PID002"}, fields=["all"])
    assert {"00080080", "00101010", "00100030", "00200010"} <= set(full)


def test_limit_offset_and_warning(archive: Archive) -> None:
    response = httpx.get(f"{archive.url}/instances", params={"limit": "3"})
    assert response.status_code == 200
    assert len(response.json()) == 3
    assert "additional results" in response.headers["warning"]
    assert response.headers["content-type"] == "application/dicom+json"
    rest = httpx.get(f"{archive.url}/instances", params={"limit": "3", "offset": "3"})
    assert len(rest.json()) == 1
    assert "warning" not in rest.headers
    first = {i["00080018"]["Value"][0] for i in response.json()}
    assert rest.json()[0]["00080018"]["Value"][0] not in first


def test_no_match_is_an_empty_list(archive: Archive) -> None:
    # CP-2473: 200 with an empty array (dicomweb-client reads that as no results).
    assert archive.client.search_for_studies(search_filters={"PatientID": "NOBODY"}) == []


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        ("/studies", {"limit": "-1"}, "limit must be at least 1"),
        ("/studies", {"limit": "ten"}, "limit must be an integer"),
        ("/studies", {"offset": "-5"}, "offset must be at least 0"),
        ("/studies", {"fuzzymatching": "yes"}, "fuzzymatching must be true or false"),
        ("/studies", {"NotAnAttribute": "x"}, "neither a DICOM keyword"),
        ("/studies", {"99990010": "x"}, "neither a DICOM keyword"),
        ("/studies", {"StudyDate": "20250101-2024"}, "StudyDate"),  # a range that ends early
        ("/studies", {"StudyInstanceUID": "1.2.*"}, "StudyInstanceUID"),  # no UID wildcards
        ("/studies", {"SOPInstanceUID": "1.2.3"}, "IMAGE-level key"),  # below the level
        ("/studies/not-a-uid/series", {}, "not a valid UID"),
        ("/studies/1.2.3/series", {"StudyInstanceUID": "1.2.4"}, "given by the resource path"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(
    archive: Archive, path: str, params: dict[str, str], reason: str
) -> None:
    response = httpx.get(f"{archive.url}{path}", params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert reason in response.json()["detail"]


def test_repeated_key_is_400(archive: Archive) -> None:
    response = httpx.get(f"{archive.url}/studies?PatientID=A&PatientID=B")
    assert response.status_code == 400
    assert "given twice" in response.json()["detail"]


def test_xml_answer(archive: Archive) -> None:
    """PS3.19 Native DICOM Model, one document per part; Japanese names by component."""
    accept = 'multipart/related; type="application/dicom+xml"'
    response = httpx.get(
        f"{archive.url}/studies", params={"PatientID": "JP001"}, headers={"Accept": accept}
    )
    assert response.status_code == 200
    content_type = response.headers["content-type"]
    assert content_type.startswith('multipart/related; type="application/dicom+xml"')
    boundary = content_type.split("boundary=")[1]
    [part] = response.content.split(f"--{boundary}".encode())[1:-1]
    headers, _, document = part.partition(b"\r\n\r\n")
    assert b"Content-Type: application/dicom+xml" in headers
    ns = {"d": "http://dicom.nema.org/PS3.19/models/NativeDICOM"}
    root = ET.fromstring(document.strip())
    name = root.find("d:DicomAttribute[@keyword='PatientName']/d:PersonName", ns)
    assert name is not None
    assert name.findtext("d:Ideographic/d:FamilyName", namespaces=ns) == "山田"
    assert name.findtext("d:Phonetic/d:GivenName", namespaces=ns) == "たろう"
    uid = root.find("d:DicomAttribute[@tag='0020000D']/d:Value", ns)
    assert uid is not None and uid.text == archive.ct_study


def test_unknown_media_type_is_not_acceptable(archive: Archive) -> None:
    response = httpx.get(f"{archive.url}/studies", headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert "application/dicom+json" in response.json()["detail"]
    with pytest.raises(HTTPError):
        archive.client._http_get(f"{archive.url}/studies", headers={"Accept": "text/html"})


def test_plain_json_accepted(archive: Archive) -> None:
    response = httpx.get(f"{archive.url}/studies", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


def test_qido_max_results_setting(archive: Archive, settings: Settings) -> None:
    """The server's cap lowers a larger limit and truncates with the Warning header."""
    capped = Services.from_settings(settings.model_copy(update={"qido_max_results": 2}))
    server = start_http_server(capped)
    try:
        response = httpx.get(f"{server.url}/dicom-web/instances", params={"limit": "100"})
        assert len(response.json()) == 2
        assert "additional results" in response.headers["warning"]
    finally:
        server.stop()
        capped.close()
