"""The DICOM per-AE, per-service allow-list (issue 9) with DCMTK and pynetdicom peers, on both
engines (the fast path and pynetdicom).

127.0.0.1 is made a *remote* address by emptying ``dicom_local_networks``; a second loopback
address (127.0.0.2, bound by pynetdicom's ``bind_address``) stands for another host.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, build_role
from pynetdicom.sop_class import (
    CTImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)
from sqlalchemy import func, select

from dicom_factory import make_dataset, write_files
from helpers import run_tool, start_dimse_server
from raddx.config import DicomServiceValues, RemoteAE, Settings, load_settings
from raddx.db.models import Instance
from raddx.dimse import DimseServer
from raddx.security import audit
from raddx.services import Services

pytestmark = pytest.mark.dcmtk

Tool = Callable[[str], str]


def _remote(title: str, host: str, *services: DicomServiceValues) -> RemoteAE:
    return RemoteAE(ae_title=title, host=host, port=104, services=list(services))


@pytest.fixture(params=[True, False], ids=["fast-path", "pynetdicom"])
def fast_path(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, fast_path: bool) -> Settings:
    S = DicomServiceValues
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        dicom_fast_path=fast_path,
        dicom_local_networks=[],  # 127.0.0.1 counts as a remote host here
        remote_aes=[
            _remote("MODALITY", "127.0.0.1", S.ECHO, S.STORE),
            _remote("VIEWER", "127.0.0.1", S.ECHO, S.FIND, S.GET),
            _remote("ELSEWHERE", "127.0.0.2", S.ECHO, S.STORE),
        ],
    )


@pytest.fixture
def server(services: Services) -> Iterator[DimseServer]:
    started = start_dimse_server(services)
    yield started
    started.stop()


def _count(services: Services) -> int:
    with services.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Instance)) or 0)


def _echo(tool: Tool, port: int, calling: str) -> str:
    result = run_tool([tool("echoscu"), "-v", "-aet", calling, "127.0.0.1", str(port)])
    return f"rc={result.returncode}\n{result.stdout}{result.stderr}"


def _find(tool: Tool, port: int, calling: str) -> subprocess.CompletedProcess[str]:
    keys = ["-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID"]
    return run_tool([tool("findscu"), "-S", "-aet", calling, *keys, "127.0.0.1", str(port)])


def test_registered_ae_accepted_unknown_ae_rejected(dcmtk: Tool, server: DimseServer) -> None:
    port = server.address[1]
    assert _echo(dcmtk, port, "MODALITY").startswith("rc=0")
    with audit.capture() as events:
        refused = _echo(dcmtk, port, "STRANGER")
    alerts = [e for e in events if e.event_id is audit.EventIDValues.SECURITY_ALERT]
    assert len(alerts) == 1
    assert alerts[0].event_types == (audit.EventTypeCodeValues.NODE_AUTHENTICATION,)
    assert alerts[0].objects[0].object_id == "STRANGER"
    assert not refused.startswith("rc=0")
    assert "Association Rejected" in refused
    assert "Calling AE Title Not Recognized" in refused


def test_registered_ae_from_another_host_rejected(dcmtk: Tool, server: DimseServer) -> None:
    """ELSEWHERE is registered at 127.0.0.2: the same title from 127.0.0.1 is refused, and
    accepted from 127.0.0.2."""
    port = server.address[1]
    assert "Calling AE Title Not Recognized" in _echo(dcmtk, port, "ELSEWHERE")
    ae = AE(ae_title="ELSEWHERE")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="RADDX", bind_address=("127.0.0.2", 0))
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()


def test_store_allowed_find_refused_per_service(
    dcmtk: Tool, server: DimseServer, services: Services, tmp_path: Path
) -> None:
    port = server.address[1]
    files = write_files(tmp_path / "in", 2)
    stored = run_tool(
        [dcmtk("storescu"), "-aet", "MODALITY", "127.0.0.1", str(port), *map(str, files)]
    )
    assert stored.returncode == 0, stored.stderr
    assert _count(services) == 2
    # MODALITY may not query: its C-FIND context is rejected at negotiation.
    found = _find(dcmtk, port, "MODALITY")
    assert found.returncode != 0
    assert "No Acceptable Presentation Contexts" in found.stderr
    # VIEWER may: the same query is answered.
    found = _find(dcmtk, port, "VIEWER")
    assert found.returncode == 0, found.stderr
    # An unknown AE may do nothing at all.
    found = _find(dcmtk, port, "STRANGER")
    assert found.returncode != 0
    assert "Calling AE Title Not Recognized" in found.stderr


def test_get_only_peer_cannot_store(
    dcmtk: Tool, server: DimseServer, services: Services, tmp_path: Path
) -> None:
    """VIEWER negotiates storage contexts (for C-GET's sub-operations) but its own C-STORE
    requests are refused with 0x0124 (Not Authorized)."""
    port = server.address[1]
    ds = make_dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ae = AE(ae_title="VIEWER")
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    assoc = ae.associate(
        "127.0.0.1",
        port,
        ae_title="RADDX",
        ext_neg=[build_role(CTImageStorage, scu_role=True, scp_role=True)],
    )
    assert assoc.is_established
    status = assoc.send_c_store(ds)
    assoc.release()
    assert status.Status == 0x0124
    assert _count(services) == 0


def test_loopback_trusted_by_default(dcmtk: Tool, tmp_path: Path, fast_path: bool) -> None:
    """The default policy: any AE title from loopback is accepted for every service."""
    svc = Services.from_settings(
        load_settings(data_dir=tmp_path / "default", dicom_fast_path=fast_path)
    )
    server = start_dimse_server(svc)
    try:
        assert _echo(dcmtk, server.address[1], "ANYONE").startswith("rc=0")
        ae = AE(ae_title="ANYONE")
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        assoc = ae.associate("127.0.0.1", server.address[1], ae_title="RADDX")
        assert assoc.is_established
        assoc.release()
    finally:
        server.stop()
        svc.close()


def test_unregistered_peers_accepted_when_configured(
    dcmtk: Tool, tmp_path: Path, fast_path: bool
) -> None:
    svc = Services.from_settings(
        load_settings(
            data_dir=tmp_path / "open",
            dicom_fast_path=fast_path,
            dicom_local_networks=[],
            dicom_accept_unregistered_peers=True,
        )
    )
    server = start_dimse_server(svc)
    try:
        assert _echo(dcmtk, server.address[1], "STRANGER").startswith("rc=0")
    finally:
        server.stop()
        svc.close()
