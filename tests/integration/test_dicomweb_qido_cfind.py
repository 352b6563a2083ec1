"""QIDO-RS and C-FIND answer the same matches for the same keys: one table drives both doors
(issue 5), against live servers on one archive, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from dicomweb_client import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from helpers import start_dimse_server, start_http_server
from raddx.services import Services

STUDY_A, STUDY_B, STUDY_C = generate_uid(), generate_uid(), generate_uid()

#: (level, keys, expected StudyInstanceUIDs of the matches). Each row runs through both doors.
TABLE: list[tuple[str, dict[str, str], set[str]]] = [
    ("STUDY", {}, {STUDY_A, STUDY_B, STUDY_C}),  # universal
    ("STUDY", {"PatientName": "yamada*"}, {STUDY_A}),  # case-insensitive wildcard
    ("STUDY", {"PatientName": "やまだ*"}, {STUDY_A}),  # phonetic group
    ("STUDY", {"PatientName": "*^John"}, {STUDY_B, STUDY_C}),
    ("STUDY", {"StudyDate": "20240101-20241231"}, {STUDY_A, STUDY_B}),  # range
    ("STUDY", {"StudyDate": "-20231231"}, {STUDY_C}),  # open range
    ("STUDY", {"ModalitiesInStudy": "MR"}, {STUDY_B}),
    ("STUDY", {"AccessionNumber": "ACC-?"}, {STUDY_A, STUDY_B, STUDY_C}),
    ("STUDY", {"PatientID": "P2", "StudyDate": "20240601"}, {STUDY_B}),  # two keys
    ("STUDY", {"PatientID": "P3"}, set()),
    ("SERIES", {"Modality": "CT"}, {STUDY_A, STUDY_C}),
    ("SERIES", {"StudyInstanceUID": f"{STUDY_A}\\{STUDY_B}", "Modality": "MR"}, {STUDY_B}),
    ("IMAGE", {"StudyInstanceUID": STUDY_A, "InstanceNumber": "2"}, {STUDY_A}),
]


@dataclass
class Doors:
    dimse: tuple[str, int]
    qido: DICOMwebClient


@pytest.fixture
def doors(services: Services) -> Iterator[Doors]:
    for study, pid, name, date, modality, accession in [
        (STUDY_A, "P1", JAPANESE_NAME, "20240115", "CT", "ACC-A"),
        (STUDY_B, "P2", "Doe^John", "20240601", "MR", "ACC-B"),
        (STUDY_C, "P2", "Doe^John", "20231231", "CT", "ACC-C"),
    ]:
        for number in (1, 2):
            ds = make_dataset(
                patient_id=pid,
                patient_name=name,
                charset="ISO_IR 192",
                study_uid=study,
                modality=modality,
                accession=accession,
            )
            ds.StudyDate = date
            ds.InstanceNumber = number
            services.ingest.store(to_part10(ds), source="test")
    dimse = start_dimse_server(services)
    http = start_http_server(services)
    try:
        yield Doors(dimse.address, DICOMwebClient(f"{http.url}/dicom-web"))
    finally:
        http.stop()
        dimse.stop()


def _cfind(server: tuple[str, int], level: str, keys: dict[str, str]) -> list[str]:
    ae = AE(ae_title="QIDOTEST")
    model = StudyRootQueryRetrieveInformationModelFind
    ae.add_requested_context(model)
    assoc = ae.associate(*server, ae_title="RADDX")
    assert assoc.is_established
    identifier = Dataset()
    identifier.SpecificCharacterSet = "ISO_IR 192"
    identifier.QueryRetrieveLevel = level
    identifier.StudyInstanceUID = ""
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    found = []
    try:
        for status, answer in assoc.send_c_find(identifier, model):
            assert status.Status in (0x0000, 0xFF00, 0xFF01), hex(status.Status)
            if status.Status != 0x0000:
                found.append(str(answer.StudyInstanceUID))
    finally:
        assoc.release()
    return found


def _qido(client: DICOMwebClient, level: str, keys: dict[str, str]) -> list[str]:
    filters = {k: v.replace("\\", ",") for k, v in keys.items()}  # QIDO's UID list separator
    search = {
        "STUDY": client.search_for_studies,
        "SERIES": client.search_for_series,
        "IMAGE": client.search_for_instances,
    }[level]
    return [r["0020000D"]["Value"][0] for r in search(search_filters=filters)]


def test_qido_and_cfind_match_alike(doors: Doors) -> None:
    for level, keys, expected in TABLE:
        by_cfind = _cfind(doors.dimse, level, keys)
        by_qido = _qido(doors.qido, level, keys)
        assert sorted(by_cfind) == sorted(by_qido), (level, keys)
        assert set(by_qido) == expected, (level, keys)
