"""C-GET and C-MOVE SCP against real peers: DCMTK getscu, movescu with storescp as the
destination, and a pynetdicom SCU for the statuses; on SQLite and PostgreSQL.

What the peers received is read back with pydicom and compared with what was stored: DCMTK may
re-encode the file meta, so the comparison is on SOP Instance UIDs, transfer syntax and pixels.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE, build_role, evt
from pynetdicom.dsutils import decode
from pynetdicom.sop_class import (
    CTImageStorage,
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)
from sqlalchemy import func, select

from dicom_factory import make_dataset, to_part10
from helpers import dcmtk_env, free_port, run_tool, wait_for
from postgres_fixture import _database, _server_url
from raddx.archive.part10 import read_file_meta
from raddx.config import load_settings
from raddx.db.models import Instance
from raddx.dimse import DimseServer, listen_socket
from raddx.services import Services

pytestmark = pytest.mark.dcmtk

STUDY = generate_uid()
SERIES = (generate_uid(), generate_uid())
#: A study whose second instance's blob is gone: one failed sub-operation.
BROKEN_STUDY = generate_uid()
BROKEN_UID = generate_uid()


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@dataclass
class _Archive:
    server: tuple[str, int]
    services: Services
    stored: dict[str, Dataset]  # SOPInstanceUID -> dataset as stored
    storescp_dir: Path
    flaky_port: int  # FLAKY's port; a test starts a destination there


def _load(services: Services) -> dict[str, Dataset]:
    stored = {}
    # Three instances in two series, in two transfer syntaxes (each must go out as stored).
    for number, (series, syntax) in enumerate(
        [
            (SERIES[0], ExplicitVRLittleEndian),
            (SERIES[0], ImplicitVRLittleEndian),
            (SERIES[1], ExplicitVRLittleEndian),
        ],
        start=1,
    ):
        ds = make_dataset(patient_id="R1", study_uid=STUDY, series_uid=series, pixel_bytes=512)
        ds.InstanceNumber = number
        ds.PixelData = bytes(range(256)) * (len(ds.PixelData) // 256 + 1)
        ds.PixelData = ds.PixelData[: ds.Rows * ds.Columns * 2]
        services.ingest.store(to_part10(ds, syntax), source="test")
        stored[ds.SOPInstanceUID] = ds
    for number, sop_uid in ((1, None), (2, BROKEN_UID)):
        ds = make_dataset(patient_id="R2", study_uid=BROKEN_STUDY, sop_uid=sop_uid)
        ds.InstanceNumber = number
        services.ingest.store(to_part10(ds), source="test")
    with services.session_factory() as session:
        key = session.scalar(
            select(Instance.blob_key).where(Instance.sop_instance_uid == ds.SOPInstanceUID)
        )
    assert key is not None
    services.blobs.delete(key)
    return stored


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        # C-GET associations run on the fast path; this one sends them through pynetdicom.
        "sqlite-pynetdicom",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ],
)
def archive(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    dcmtk: Callable[[str], str],
) -> Iterator[_Archive]:
    """One loaded index per backend, a live SCP on it and a DCMTK storescp as Move Destination
    DEST; DEAD is a configured destination with nothing listening."""
    tmp = tmp_path_factory.mktemp("retrieve")
    storescp_dir = tmp / "storescp"
    storescp_dir.mkdir()
    storescp_port = free_port()
    flaky_port = free_port()
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            url = stack.enter_context(_database(_server_url(tmp_path_factory), "raddx_retrieve"))
        else:
            url = f"sqlite:///{tmp / 'index.sqlite'}"
        settings = load_settings(
            data_dir=tmp / "data",
            database_url=url,
            dicom_fast_path=request.param != "sqlite-pynetdicom",
            remote_aes=[
                {"ae_title": "DEST", "host": "127.0.0.1", "port": storescp_port},
                {"ae_title": "DEAD", "host": "127.0.0.1", "port": free_port()},
                {"ae_title": "FLAKY", "host": "127.0.0.1", "port": flaky_port},
            ],
        )
        services = Services.from_settings(settings)
        stack.callback(services.close)
        stored = _load(services)
        storescp = subprocess.Popen(
            [dcmtk("storescp"), "-aet", "DEST", "-od", str(storescp_dir), str(storescp_port)],
            env=dcmtk_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stack.callback(storescp.wait, 10)
        stack.callback(storescp.terminate)
        wait_for(lambda: _accepts(storescp_port))
        server = DimseServer(
            settings=settings,
            ingest=services.ingest,
            sock=listen_socket("127.0.0.1", 0),
            session_factory=services.session_factory,
        )
        server.start()
        stack.callback(server.stop)
        yield _Archive(server.address, services, stored, storescp_dir, flaky_port)


def _check_received(files: list[Path], archive: _Archive) -> None:
    received = {}
    for path in files:
        ds = pydicom.dcmread(path)
        received[ds.SOPInstanceUID] = ds
    assert sorted(received) == sorted(archive.stored)
    for uid, ds in received.items():
        assert ds.PixelData == archive.stored[uid].PixelData
        assert ds.PatientID == "R1"


def test_getscu_retrieves_a_study(
    archive: _Archive, dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    host, port = archive.server
    args = ["-S", "-aec", "RADDX", "-od", str(tmp_path)]
    keys = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={STUDY}"]
    result = run_tool([dcmtk("getscu"), *args, *keys, host, str(port)])
    assert result.returncode == 0, result.stderr
    _check_received(sorted(tmp_path.iterdir()), archive)


def test_movescu_to_storescp(
    archive: _Archive, dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    host, port = archive.server
    before = set(archive.storescp_dir.iterdir())
    args = ["-S", "-aec", "RADDX", "-aem", "DEST"]
    keys = ["-k", "QueryRetrieveLevel=SERIES", "-k", f"SeriesInstanceUID={SERIES[0]}"]
    result = run_tool([dcmtk("movescu"), *args, *keys, host, str(port)])
    assert result.returncode == 0, result.stderr
    new = sorted(set(archive.storescp_dir.iterdir()) - before)
    uids = {pydicom.dcmread(p).SOPInstanceUID: pydicom.dcmread(p) for p in new}
    expected = {u for u, ds in archive.stored.items() if ds.SeriesInstanceUID == SERIES[0]}
    assert set(uids) == expected
    for uid, ds in uids.items():
        # Sent in the stored transfer syntax: storescp keeps the one it received.
        stored_syntax = ExplicitVRLittleEndian if archive.stored[uid].InstanceNumber != 2 else None
        assert ds.PixelData == archive.stored[uid].PixelData
        if stored_syntax is not None:
            assert ds.file_meta.TransferSyntaxUID == stored_syntax


def _identifier(level: str, **keys: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def _move(archive: _Archive, destination: str, identifier: Dataset) -> list[Dataset]:
    ae = AE(ae_title="MOVER")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = ae.associate(*archive.server, ae_title="RADDX")
    assert assoc.is_established
    try:
        responses = list(
            assoc.send_c_move(identifier, destination, StudyRootQueryRetrieveInformationModelMove)
        )
    finally:
        assoc.release()
    return [status for status, _ in responses]


def _instance_count(archive: _Archive) -> int:
    with archive.services.session_factory() as session:
        return int(session.scalar(select(func.count(Instance.id))) or 0)


def test_unknown_move_destination(archive: _Archive) -> None:
    statuses = _move(archive, "NOBODY", _identifier("STUDY", StudyInstanceUID=STUDY))
    final = statuses[-1]
    assert final.Status == 0xA801
    assert "NOBODY" in final.ErrorComment


# pynetdicom 3.0 (transport.AssociationSocket._shutdown_socket) calls shutdown() before close()
# on the socket whose connect was refused; shutdown raises ENOTCONN, so the socket is only
# closed when collected, and pytest reports that as an unraisable ResourceWarning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_destination_refusing_the_association(archive: _Archive) -> None:
    """Nothing listens at DEAD's port: every sub-operation failed, counted, archive unchanged."""
    before = (_instance_count(archive), sorted(b.key for b in archive.services.blobs.list_blobs()))
    statuses = _move(archive, "DEAD", _identifier("STUDY", StudyInstanceUID=STUDY))
    final = statuses[-1]
    assert final.Status == 0xA702
    assert final.NumberOfFailedSuboperations == 3
    assert final.NumberOfCompletedSuboperations == 0
    assert "DEAD" in final.ErrorComment
    after = (_instance_count(archive), sorted(b.key for b in archive.services.blobs.list_blobs()))
    assert after == before


def test_destination_going_away_mid_transfer(archive: _Archive) -> None:
    """FLAKY takes the first object, then aborts: one completed, the rest failed (0xB000),
    noticed at once (the DIMSE timeout is 60 s)."""
    received: list[str] = []

    def on_store(event: Any) -> int:
        if received:
            event.assoc.abort()
            return 0xA700
        received.append(event.dataset.SOPInstanceUID)
        return 0x0000

    flaky = AE(ae_title="FLAKY")
    flaky.add_supported_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    server = flaky.start_server(
        ("127.0.0.1", archive.flaky_port),
        block=False,
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    try:
        before = _instance_count(archive)
        started = time.monotonic()
        final = _move(archive, "FLAKY", _identifier("STUDY", StudyInstanceUID=STUDY))[-1]
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
    assert elapsed < 10
    assert final.Status == 0xB000
    assert final.NumberOfCompletedSuboperations == 1
    assert final.NumberOfFailedSuboperations == 2
    assert len(received) == 1
    assert _instance_count(archive) == before


def test_destination_killed_mid_transfer(
    archive: _Archive, dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    """A DCMTK storescp as FLAKY that is killed (SIGKILL, from its own --exec-on-reception)
    after the first object: the rest fail at once, counted; the archive is unchanged."""
    storescp = subprocess.Popen(
        [
            dcmtk("storescp"),
            "-aet",
            "FLAKY",
            "-od",
            str(tmp_path),
            "-xcr",
            "kill -9 $PPID",  # run by storescp's /bin/sh child: $PPID is storescp
            "-xs",
            str(archive.flaky_port),
        ],
        env=dcmtk_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _accepts(archive.flaky_port))
        before = (
            _instance_count(archive),
            sorted(b.key for b in archive.services.blobs.list_blobs()),
        )
        started = time.monotonic()
        final = _move(archive, "FLAKY", _identifier("STUDY", StudyInstanceUID=STUDY))[-1]
        elapsed = time.monotonic() - started
        storescp.wait(10)
    finally:
        storescp.kill()
        storescp.wait(10)
    assert storescp.returncode == -9
    assert elapsed < 10  # not the 60 s DIMSE timeout
    assert final.Status in (0xB000, 0xA702)  # the first object may or may not be answered
    assert final.NumberOfFailedSuboperations + final.NumberOfCompletedSuboperations == 3
    assert final.NumberOfFailedSuboperations >= 2
    after = (_instance_count(archive), sorted(b.key for b in archive.services.blobs.list_blobs()))
    assert after == before


def test_move_without_unique_key_is_refused(archive: _Archive) -> None:
    final = _move(archive, "DEST", _identifier("STUDY", StudyInstanceUID=""))[-1]
    assert final.Status == 0xA900
    assert "StudyInstanceUID" in final.ErrorComment


def _get(
    archive: _Archive,
    identifier: Dataset,
    model: str,
    contexts: tuple[tuple[str, ...], ...] = ((ExplicitVRLittleEndian, ImplicitVRLittleEndian),),
    raw: dict[str, tuple[str, bytes]] | None = None,
) -> tuple[list[tuple[Dataset, Dataset | None]], list[str]]:
    """C-GET with a pynetdicom SCU proposing one CT context per item of ``contexts``; ``raw``
    collects each received object's (transfer syntax, dataset bytes as they came off the
    wire)."""
    received: list[str] = []

    def on_store(event: Any) -> int:
        received.append(event.dataset.SOPInstanceUID)
        if raw is not None:
            raw[event.dataset.SOPInstanceUID] = (
                str(event.context.transfer_syntax),
                event.request.DataSet.getvalue(),
            )
        return 0x0000

    ae = AE(ae_title="GETTER")
    ae.add_requested_context(model)
    for syntaxes in contexts:
        ae.add_requested_context(CTImageStorage, list(syntaxes))
    assoc = ae.associate(
        *archive.server,
        ae_title="RADDX",
        ext_neg=[build_role(CTImageStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    assert assoc.is_established
    try:
        responses = list(assoc.send_c_get(identifier, model))
    finally:
        assoc.release()
    return responses, received


def test_get_with_a_missing_blob_warns(archive: _Archive) -> None:
    """One of two blobs is gone: one completed, one failed, final 0xB000 (PS3.4 C.4.3.1.3)."""
    responses, received = _get(
        archive,
        _identifier("STUDY", PatientID="R2", StudyInstanceUID=BROKEN_STUDY),
        PatientRootQueryRetrieveInformationModelGet,
    )
    final, identifier = responses[-1]
    assert final.Status == 0xB000
    assert identifier is not None
    assert identifier.FailedSOPInstanceUIDList == BROKEN_UID
    assert final.NumberOfCompletedSuboperations == 1
    assert final.NumberOfFailedSuboperations == 1
    assert len(received) == 1


def test_get_without_matches_succeeds_empty(archive: _Archive) -> None:
    responses, received = _get(
        archive,
        _identifier("SERIES", SeriesInstanceUID=generate_uid()),
        StudyRootQueryRetrieveInformationModelGet,
    )
    assert responses[-1][0].Status == 0x0000
    assert received == []


def _stored_bytes(archive: _Archive, uid: str) -> tuple[str, bytes]:
    """(transfer syntax, dataset bytes after the file meta) of the stored object."""
    with archive.services.session_factory() as session:
        key = session.scalar(select(Instance.blob_key).where(Instance.sop_instance_uid == uid))
    assert key is not None
    part10 = archive.services.blobs.get(key)
    meta = read_file_meta(part10)
    return meta.transfer_syntax_uid, part10[meta.dataset_offset :]


def test_get_sends_the_stored_bytes_unchanged(archive: _Archive) -> None:
    """Accepted in its stored syntax, an object goes out byte for byte as it was received."""
    raw: dict[str, tuple[str, bytes]] = {}
    responses, _ = _get(
        archive,
        _identifier("STUDY", StudyInstanceUID=STUDY),
        StudyRootQueryRetrieveInformationModelGet,
        contexts=((ExplicitVRLittleEndian,), (ImplicitVRLittleEndian,)),
        raw=raw,
    )
    assert responses[-1][0].Status == 0x0000
    assert sorted(raw) == sorted(archive.stored)
    for uid, sent in raw.items():
        assert sent == _stored_bytes(archive, uid)


def test_get_re_encodes_for_a_requestor_with_the_other_uncompressed_syntax(
    archive: _Archive,
) -> None:
    """A requestor that accepts CT in Implicit VR only gets the Explicit VR objects
    re-encoded (decoded and encoded by pydicom), the Implicit VR one as stored."""
    raw: dict[str, tuple[str, bytes]] = {}
    responses, _ = _get(
        archive,
        _identifier("STUDY", StudyInstanceUID=STUDY),
        StudyRootQueryRetrieveInformationModelGet,
        contexts=((ImplicitVRLittleEndian,),),
        raw=raw,
    )
    assert responses[-1][0].Status == 0x0000
    assert sorted(raw) == sorted(archive.stored)
    for uid, (syntax, data) in raw.items():
        assert syntax == ImplicitVRLittleEndian
        back = decode(BytesIO(data), True, True, False)
        assert back.PixelData == archive.stored[uid].PixelData
        stored_syntax, stored_body = _stored_bytes(archive, uid)
        assert (data == stored_body) == (stored_syntax == ImplicitVRLittleEndian)


def test_get_cancelled_by_the_requestor(archive: _Archive) -> None:
    """A C-CANCEL sent while a C-STORE sub-operation waits for its response: the archive
    finishes that one and answers Cancel (0xFE00) with the counts (PS3.4 C.4.3.3)."""
    model = StudyRootQueryRetrieveInformationModelGet
    received: list[str] = []
    holder: dict[str, Any] = {}

    def on_store(event: Any) -> int:
        received.append(event.dataset.SOPInstanceUID)
        if len(received) == 1:
            context_id = holder["assoc"]._get_valid_context(model, "", "scu").context_id
            holder["assoc"].send_c_cancel(1, context_id)
        return 0x0000

    ae = AE(ae_title="GETTER")
    ae.add_requested_context(model)
    ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    assoc = ae.associate(
        *archive.server,
        ae_title="RADDX",
        ext_neg=[build_role(CTImageStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    assert assoc.is_established
    holder["assoc"] = assoc
    try:
        responses = list(
            assoc.send_c_get(_identifier("STUDY", StudyInstanceUID=STUDY), model, msg_id=1)
        )
    finally:
        assoc.release()
    final = responses[-1][0]
    assert final.Status == 0xFE00
    assert final.NumberOfCompletedSuboperations == 1
    assert final.NumberOfRemainingSuboperations == 2
    assert len(received) == 1
