"""``raddx send`` to DCMTK's storescp and ``raddx retrieve --get`` from a second raddx archive,
run in-process through Typer's CliRunner against real peers on loopback."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage
from sqlalchemy import select
from typer.testing import CliRunner

from dicom_factory import make_dataset, to_part10
from helpers import dcmtk_env, free_port, run_tool, wait_for
from raddx.cli import app
from raddx.config import RemoteAE, load_settings
from raddx.db.models import Instance
from raddx.dimse import DimseServer, listen_socket
from raddx.dimse.contexts import storage_contexts
from raddx.services import Services

pytestmark = pytest.mark.dcmtk

STORESCP_AE = "STORESCP"


def _load(services: Services, count: int = 3) -> tuple[str, set[str]]:
    study = generate_uid()
    uids = set()
    for _ in range(count):
        ds = make_dataset(patient_id="SEND1", study_uid=study)
        services.ingest.store(to_part10(ds), source="test")
        uids.add(str(ds.SOPInstanceUID))
    # Another study that must not be sent.
    services.ingest.store(to_part10(make_dataset(patient_id="OTHER")), source="test")
    return study, uids


def _invoke(services: Services, args: list[str], remotes: list[dict[str, object]]) -> object:
    env = {"RADDX_REMOTE_AES": json.dumps(remotes)}
    storage = [
        "--data-dir",
        str(services.settings.data_dir),
        "--database-url",
        services.settings.resolved_database_url,
    ]
    return CliRunner().invoke(app, [*args, *storage], env=env)


@pytest.fixture
def storescp(dcmtk: Callable[[str], str], tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """DCMTK storescp on a free port writing into a temp folder; yields (port, folder)."""
    out = tmp_path / "storescp"
    out.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [dcmtk("storescp"), "-aet", STORESCP_AE, "-od", str(out), str(port)],
        env=dcmtk_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: (
                run_tool(
                    [dcmtk("echoscu"), "-aec", STORESCP_AE, "127.0.0.1", str(port)], timeout=10
                ).returncode
                == 0
            )
        )
        yield port, out
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_send_study_to_storescp(services: Services, storescp: tuple[int, Path]) -> None:
    port, out = storescp
    study, uids = _load(services)
    remote = {"ae_title": STORESCP_AE, "host": "127.0.0.1", "port": port}

    result = _invoke(services, ["send", STORESCP_AE, "--study", study, "-q"], [remote])

    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "sent 3, failed 0" in result.output  # type: ignore[attr-defined]
    received = {str(pydicom.dcmread(p).SOPInstanceUID) for p in out.iterdir()}
    assert received == uids


def test_send_files_by_path(services: Services, storescp: tuple[int, Path], tmp_path: Path) -> None:
    port, out = storescp
    folder = tmp_path / "files"
    folder.mkdir()
    ds = make_dataset()
    (folder / "a.dcm").write_bytes(to_part10(ds))
    (folder / "notes.txt").write_text("not DICOM")
    remote = {"ae_title": STORESCP_AE, "host": "127.0.0.1", "port": port}

    result = _invoke(services, ["send", STORESCP_AE, str(folder), "-q"], [remote])

    # The text file is a failure; the DICOM file still goes out.
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    assert "sent 1, failed 1" in result.output  # type: ignore[attr-defined]
    assert "notes.txt" in result.output  # type: ignore[attr-defined]
    received = {str(pydicom.dcmread(p).SOPInstanceUID) for p in out.iterdir()}
    assert received == {str(ds.SOPInstanceUID)}


def test_send_unknown_remote_ae_exits_2(services: Services) -> None:
    result = _invoke(services, ["send", "NOWHERE", "--study", generate_uid()], [])

    assert result.exit_code == 2
    assert "unknown remote AE 'NOWHERE'" in result.output  # type: ignore[attr-defined]


# pynetdicom 3.0 (transport.AssociationSocket._shutdown_socket) calls shutdown() before close()
# on a socket whose connect failed; shutdown raises, so the socket is never closed and pytest
# reports the ResourceWarning when it is collected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_send_to_unreachable_remote_exits_1(services: Services) -> None:
    study, _uids = _load(services, count=1)
    remote = {"ae_title": "GONE", "host": "127.0.0.1", "port": free_port()}

    result = _invoke(services, ["send", "GONE", "--study", study, "-q"], [remote])

    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    assert "sent 0, failed 1" in result.output  # type: ignore[attr-defined]
    assert "cannot associate with GONE at 127.0.0.1" in result.output  # type: ignore[attr-defined]
    gc.collect()  # collect the leaked socket here, where its warning is filtered


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_send_stops_cleanly_on_ctrl_c(services: Services) -> None:
    """SIGINT while the peer holds the first C-STORE: raddx send aborts, prints the summary
    so far (the object in flight failed, the rest not attempted) and exits 130."""
    study, _uids = _load(services, count=5)
    arrived, release = threading.Event(), threading.Event()

    def on_store(event: Any) -> int:
        arrived.set()
        release.wait(timeout=30)  # a slow peer: holds the first object until the test ends
        return 0x0000

    peer = AE(ae_title="SLOW")
    peer.add_supported_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    port = free_port()
    server = peer.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    remote = {"ae_title": "SLOW", "host": "127.0.0.1", "port": port}
    storage = [
        "--data-dir",
        str(services.settings.data_dir),
        "--database-url",
        services.settings.resolved_database_url,
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "raddx.cli", "send", "SLOW", "--study", study, "-q", *storage],
        env={**os.environ, "RADDX_REMOTE_AES": json.dumps([remote])},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # SIGINT as a terminal would deliver it: in full runs the pytest worker had SIGINT
        # ignored (some test leaves it so), the child inherited SIG_IGN and sent everything.
        preexec_fn=_default_sigint,
    )
    try:
        wait_for(arrived.is_set)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.shutdown()
    assert proc.returncode == 130, (out, err)
    assert "sent 0, failed 1 to SLOW" in out
    assert "interrupted while sending" in out
    assert "interrupted (Ctrl-C): 4 not attempted" in out
    assert "Traceback" not in err


def test_send_by_patient_id(services: Services, storescp: tuple[int, Path]) -> None:
    port, out = storescp
    _study, uids = _load(services)
    remote = {"ae_title": STORESCP_AE, "host": "127.0.0.1", "port": port}

    result = _invoke(services, ["send", STORESCP_AE, "--patient-id", "SEND1", "-q"], [remote])

    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert {str(pydicom.dcmread(p).SOPInstanceUID) for p in out.iterdir()} == uids


def test_retrieve_get_from_another_raddx(
    services: Services, dimse_server: tuple[str, int], tmp_path: Path
) -> None:
    study, uids = _load(services)
    host, port = dimse_server
    archive_b = Services.from_settings(load_settings(data_dir=tmp_path / "b"))
    remote = {"ae_title": "ARCHIVE_A", "host": host, "port": port}
    try:
        result = CliRunner().invoke(
            app,
            ["retrieve", "ARCHIVE_A", "--study", study, "--get", "-q"],
            env={
                "RADDX_REMOTE_AES": json.dumps([remote]),
                "RADDX_DATA_DIR": str(tmp_path / "b"),
            },
        )
        assert result.exit_code == 0, result.output
        assert "retrieved 3, warning 0, failed 0" in result.output
        with archive_b.session_factory() as session:
            stored = set(session.scalars(select(Instance.sop_instance_uid)))
        assert stored == uids
    finally:
        archive_b.close()


def test_retrieve_get_negotiates_the_classes_of_the_study(
    services: Services, dimse_server: tuple[str, int], tmp_path: Path
) -> None:
    """A study with 130 storage SOP classes (more than fit in one association, and some
    beyond the first 127 of pynetdicom's list) in two series: C-FIND tells raddx which
    classes to propose, and it splits the C-GET by series; everything arrives."""
    classes = [cx.abstract_syntax for cx in storage_contexts()][-130:]
    study = generate_uid()
    series = (generate_uid(), generate_uid())
    uids = set()
    for number, sop_class in enumerate(classes):
        ds = make_dataset(
            patient_id="MANY", study_uid=study, series_uid=series[number % 2], sop_class=sop_class
        )
        services.ingest.store(to_part10(ds), source="test")
        uids.add(str(ds.SOPInstanceUID))
    host, port = dimse_server
    archive_b = Services.from_settings(load_settings(data_dir=tmp_path / "b"))
    remote = {"ae_title": "ARCHIVE_A", "host": host, "port": port}
    try:
        result = CliRunner().invoke(
            app,
            ["retrieve", "ARCHIVE_A", "--study", study, "-q"],
            env={
                "RADDX_REMOTE_AES": json.dumps([remote]),
                "RADDX_DATA_DIR": str(tmp_path / "b"),
            },
        )
        assert result.exit_code == 0, result.output
        assert "retrieved 130, warning 0, failed 0" in result.output
        with archive_b.session_factory() as session:
            stored = set(session.scalars(select(Instance.sop_instance_uid)))
        assert stored == uids
    finally:
        archive_b.close()


def test_retrieve_unknown_study_fails_nothing_stored(
    services: Services, dimse_server: tuple[str, int], tmp_path: Path
) -> None:
    host, port = dimse_server
    remote = {"ae_title": "ARCHIVE_A", "host": host, "port": port}
    result = CliRunner().invoke(
        app,
        ["retrieve", "ARCHIVE_A", "--study", generate_uid(), "-q"],
        env={"RADDX_REMOTE_AES": json.dumps([remote]), "RADDX_DATA_DIR": str(tmp_path / "b")},
    )
    # PS3.4 C.4.3.1.4: no match is Success with zero sub-operations.
    assert result.exit_code == 0, result.output
    assert "retrieved 0, warning 0, failed 0" in result.output


def test_retrieve_move_to_storescp(
    services: Services, storescp: tuple[int, Path], tmp_path: Path
) -> None:
    """C-MOVE: archive A sends the study to storescp, a destination A knows."""
    scp_port, out = storescp
    study, uids = _load(services)
    destination = {"ae_title": STORESCP_AE, "host": "127.0.0.1", "port": scp_port}
    settings_a = services.settings.model_copy(update={"remote_aes": [RemoteAE(**destination)]})
    server = DimseServer(
        settings=settings_a,
        ingest=services.ingest,
        sock=listen_socket("127.0.0.1", 0),
        session_factory=services.session_factory,
    )
    server.start()
    try:
        host, port = server.address
        remote = {"ae_title": "ARCHIVE_A", "host": host, "port": port}
        result = CliRunner().invoke(
            app,
            ["retrieve", "ARCHIVE_A", "--study", study, "--move-to", STORESCP_AE, "-q"],
            env={"RADDX_REMOTE_AES": json.dumps([remote]), "RADDX_DATA_DIR": str(tmp_path / "b")},
        )
    finally:
        server.stop()

    assert result.exit_code == 0, result.output
    assert "retrieved 3, warning 0, failed 0" in result.output
    assert {str(pydicom.dcmread(p).SOPInstanceUID) for p in out.iterdir()} == uids
