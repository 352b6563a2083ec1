"""The DIMSE door's audit events on both engines (fast path, pynetdicom), with DCMTK peers:
one DICOM Instances Transferred per study per association for C-STORE, one Query per C-FIND,
Begin Transferring + Instances Transferred for C-GET; each message valid against PS3.15."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from audit_schema import assert_valid
from dicom_factory import write_files
from helpers import free_port, start_dimse_server, wait_for
from raddx.config import RemoteAE
from raddx.dimse import DimseServer
from raddx.security import audit
from raddx.security.atna import AuditSource, to_xml
from raddx.services import Services

Tool = Callable[[str], str]
SOURCE = AuditSource(source_id="RADDX@test", ae_title="RADDX", host="127.0.0.1", process_id=1)


@pytest.fixture(params=["fast", "pynetdicom"])
def server(request: pytest.FixtureRequest, services: Services) -> Iterator[DimseServer]:
    settings = services.settings.model_copy(update={"dicom_fast_path": request.param == "fast"})
    dimse = start_dimse_server(services, settings)
    yield dimse
    dimse.stop()


def _of(events: list[audit.AuditEvent], code: str) -> list[audit.AuditEvent]:
    return [e for e in events if e.event_id.code.code == code]


def test_c_store_one_event_per_study_per_association(
    server: DimseServer, dcmtk: Tool, tmp_path: Path
) -> None:
    first = write_files(tmp_path / "a", 3, patient_id="PAT-A", accession="ACC-A")
    second = write_files(tmp_path / "b", 1, patient_id="PAT-B")
    with audit.capture() as events:
        subprocess.run(
            [
                dcmtk("storescu"),
                "-aet",
                "MODALITY1",
                "-aec",
                "RADDX",
                "127.0.0.1",
                str(server.address[1]),
                *map(str, first + second),
            ],
            check=True,
            capture_output=True,
        )
        wait_for(lambda: len(_of(events, "110104")) == 2)
    transferred = _of(events, "110104")
    assert [(e.action.value, e.patient_id, e.user) for e in transferred] == [
        ("C", "PAT-A", "MODALITY1"),
        ("C", "PAT-B", "MODALITY1"),
    ]
    study = transferred[0].studies[0]
    assert study.sop_classes == (("1.2.840.10008.5.1.4.1.1.2", 3),)
    assert study.accession_number == "ACC-A"
    assert transferred[0].participants[0].host == "127.0.0.1"
    root = assert_valid(to_xml(transferred[0], SOURCE))
    assert root.xpath("ActiveParticipant[RoleIDCode/@csd-code='110153']/@UserID") == ["MODALITY1"]
    assert root.xpath("ActiveParticipant[RoleIDCode/@csd-code='110152']/@UserID") == ["RADDX"]


def test_c_find_is_one_query_event_with_the_identifier(
    server: DimseServer, dcmtk: Tool, tmp_path: Path
) -> None:
    with audit.capture() as events:
        subprocess.run(
            [
                dcmtk("findscu"),
                "-S",
                "-aet",
                "VIEWER1",
                "-aec",
                "RADDX",
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                "PatientID=PAT-Q*",
                "127.0.0.1",
                str(server.address[1]),
            ],
            check=True,
            capture_output=True,
        )
        wait_for(lambda: len(_of(events, "110112")) == 1)
    [query] = _of(events, "110112")
    assert (query.action.value, query.user) == ("E", "VIEWER1")
    root = assert_valid(to_xml(query, SOURCE))
    obj = root.find("ParticipantObjectIdentification")
    assert obj.get("ParticipantObjectID") == "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root FIND
    assert obj.get("ParticipantObjectTypeCodeRole") == "24"
    assert b"PAT-Q*" in base64.b64decode(obj.findtext("ParticipantObjectQuery"))


def test_c_get_begin_then_transferred(
    server: DimseServer, services: Services, dcmtk: Tool, tmp_path: Path
) -> None:
    files = write_files(tmp_path / "in", 2, patient_id="PAT-G")
    for path in files:
        services.ingest.store(path.read_bytes(), source="test")
    import pydicom

    study_uid = pydicom.dcmread(files[0]).StudyInstanceUID
    out = tmp_path / "out"
    out.mkdir()
    with audit.capture() as events:
        subprocess.run(
            [
                dcmtk("getscu"),
                "-S",
                "-aet",
                "VIEWER2",
                "-aec",
                "RADDX",
                "-od",
                str(out),
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                f"StudyInstanceUID={study_uid}",
                "127.0.0.1",
                str(server.address[1]),
            ],
            check=True,
            capture_output=True,
        )
        wait_for(lambda: len(_of(events, "110104")) == 1)
    [begin] = _of(events, "110102")
    [sent] = _of(events, "110104")
    assert (begin.action.value, sent.action.value) == ("E", "R")
    assert sent.studies[0].study_instance_uid == study_uid
    assert sent.studies[0].sop_classes == (("1.2.840.10008.5.1.4.1.1.2", 2),)
    root = assert_valid(to_xml(sent, SOURCE))
    assert root.xpath("ActiveParticipant[RoleIDCode/@csd-code='110152']/@UserID") == ["VIEWER2"]
    assert root.xpath("ActiveParticipant[RoleIDCode/@csd-code='110153']/@UserID") == ["RADDX"]
    assert_valid(to_xml(begin, SOURCE))


def test_c_move_names_requestor_and_destination(
    services: Services, dcmtk: Tool, tmp_path: Path
) -> None:
    import socket

    port = free_port()
    settings = services.settings.model_copy(
        update={"remote_aes": [RemoteAE(ae_title="DEST", host="127.0.0.1", port=port)]}
    )
    files = write_files(tmp_path / "in", 2, patient_id="PAT-M")
    for path in files:
        services.ingest.store(path.read_bytes(), source="test")
    import pydicom

    study_uid = pydicom.dcmread(files[0]).StudyInstanceUID
    received = tmp_path / "dest"
    received.mkdir()
    storescp = subprocess.Popen(
        [dcmtk("storescp"), "-aet", "DEST", "-od", str(received), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def accepts() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    dimse = start_dimse_server(services, settings)
    try:
        wait_for(accepts)
        with audit.capture() as events:
            subprocess.run(
                [
                    dcmtk("movescu"),
                    "-S",
                    "-aet",
                    "VIEWER3",
                    "-aec",
                    "RADDX",
                    "-aem",
                    "DEST",
                    "-k",
                    "QueryRetrieveLevel=STUDY",
                    "-k",
                    f"StudyInstanceUID={study_uid}",
                    "127.0.0.1",
                    str(dimse.address[1]),
                ],
                check=True,
                capture_output=True,
            )
            wait_for(lambda: len(_of(events, "110104")) == 1)
    finally:
        dimse.stop()
        storescp.terminate()
        storescp.wait(10)
    [begin] = _of(events, "110102")
    [sent] = _of(events, "110104")
    assert (sent.action.value, sent.outcome, sent.user) == ("R", 0, "VIEWER3")
    assert sent.studies[0].sop_classes == (("1.2.840.10008.5.1.4.1.1.2", 2),)
    root = assert_valid(to_xml(sent, SOURCE))
    assert root.xpath("ActiveParticipant[RoleIDCode/@csd-code='110152']/@UserID") == ["DEST"]
    requestor = root.xpath("ActiveParticipant[@UserIsRequestor='true']/@UserID")
    assert requestor == ["VIEWER3"]
    assert_valid(to_xml(begin, SOURCE))
