"""Storage Commitment Push Model SCP (PS3.4 J.3) against a pynetdicom SCU on loopback: the
N-EVENT-REPORT arrives on the requesting association, or on a new one raddx opens to the
requestor's configured address, and commits only what can be read."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, build_role, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import (
    MRImageStorage,
    StorageCommitmentPushModel,
    StorageCommitmentPushModelInstance,
)
from sqlalchemy import select

from dicom_factory import make_dataset, to_part10
from helpers import free_port, wait_for
from raddx.config import RemoteAE
from raddx.db.models import Instance
from raddx.dimse import DimseServer, listen_socket
from raddx.services import Services


def _request(items: list[tuple[str, str]], transaction_uid: str) -> Dataset:
    ds = Dataset()
    ds.TransactionUID = transaction_uid
    ds.ReferencedSOPSequence = []
    for sop_class, uid in items:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = uid
        ds.ReferencedSOPSequence.append(item)
    return ds


def _commit(
    address: tuple[str, int], request: Dataset, action_type: int = 1
) -> tuple[int, list[tuple[int, Dataset]]]:
    reports: list[tuple[int, Dataset]] = []

    def on_report(event: Event) -> tuple[int, None]:
        reports.append((event.event_type, event.event_information))
        return 0x0000, None

    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(StorageCommitmentPushModel)
    # Role selection so the SCP may invoke N-EVENT-REPORT on this association (PS3.4 J.3.3).
    role = build_role(StorageCommitmentPushModel, scu_role=True, scp_role=True)
    assoc = ae.associate(
        *address,
        ae_title="RADDX",
        ext_neg=[role],
        evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)],
    )
    assert assoc.is_established
    try:
        status, _reply = assoc.send_n_action(
            request, action_type, StorageCommitmentPushModel, StorageCommitmentPushModelInstance
        )
        if status.Status == 0x0000:
            wait_for(lambda: bool(reports), timeout=10)
    finally:
        assoc.release()
    return int(status.Status), reports


def test_commits_only_stored_readable_instances(
    services: Services, dimse_server: tuple[str, int]
) -> None:
    stored, broken = make_dataset(), make_dataset()
    for ds in (stored, broken):
        services.ingest.store(to_part10(ds), source="test")
    with services.session_factory() as session:
        key = session.scalar(
            select(Instance.blob_key).where(Instance.sop_instance_uid == broken.SOPInstanceUID)
        )
    assert key is not None
    services.blobs.delete(key)  # indexed, but its object is gone: must not be committed
    missing = generate_uid()
    transaction = generate_uid()
    request = _request(
        [
            (stored.SOPClassUID, stored.SOPInstanceUID),
            (stored.SOPClassUID, missing),
            (stored.SOPClassUID, broken.SOPInstanceUID),
            (MRImageStorage, stored.SOPInstanceUID),  # stored as CT
        ],
        transaction,
    )

    status, reports = _commit(dimse_server, request)

    assert status == 0x0000
    ((event_type, info),) = reports
    assert event_type == 2  # failures exist
    assert info.TransactionUID == transaction
    assert [i.ReferencedSOPInstanceUID for i in info.ReferencedSOPSequence] == [
        stored.SOPInstanceUID
    ]
    assert [(i.ReferencedSOPInstanceUID, i.FailureReason) for i in info.FailedSOPSequence] == [
        (missing, 0x0112),
        (broken.SOPInstanceUID, 0x0110),
        (stored.SOPInstanceUID, 0x0119),
    ]


def test_all_committed_is_event_type_1(services: Services, dimse_server: tuple[str, int]) -> None:
    ds = make_dataset()
    services.ingest.store(to_part10(ds), source="test")

    status, reports = _commit(
        dimse_server, _request([(ds.SOPClassUID, ds.SOPInstanceUID)], "1.2.3")
    )

    assert status == 0x0000
    ((event_type, info),) = reports
    assert event_type == 1
    assert "FailedSOPSequence" not in info


def test_unknown_action_type_refused(services: Services, dimse_server: tuple[str, int]) -> None:
    status, reports = _commit(dimse_server, _request([], "1.2.3"), action_type=7)

    assert status == 0x0123
    assert reports == []


@contextlib.contextmanager
def _server_with(services: Services, remote: dict[str, object]) -> Iterator[tuple[str, int]]:
    """A DIMSE server whose remote_aes has ``remote`` (the requestor's entry)."""
    settings = services.settings.model_copy(update={"remote_aes": [RemoteAE(**remote)]})
    server = DimseServer(
        settings=settings,
        ingest=services.ingest,
        sock=listen_socket("127.0.0.1", 0),
        session_factory=services.session_factory,
    )
    server.start()
    try:
        yield server.address
    finally:
        server.stop()


def _n_action_then_release(address: tuple[str, int], request: Dataset) -> int:
    """A modality that asks for commitment and releases at once, proposing no role."""
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(StorageCommitmentPushModel)
    assoc = ae.associate(*address, ae_title="RADDX")
    assert assoc.is_established
    try:
        status, _ = assoc.send_n_action(
            request, 1, StorageCommitmentPushModel, StorageCommitmentPushModelInstance
        )
    finally:
        assoc.release()
    return int(status.Status)


def test_report_on_a_new_association(services: Services) -> None:
    """new_association: the report comes on an association raddx opens to the requestor's
    configured address, with raddx in the SCP role (PS3.4 J.3.3)."""
    ds = make_dataset()
    services.ingest.store(to_part10(ds), source="test")
    reports: list[tuple[int, Dataset, str, bool]] = []

    def on_report(event: Event) -> tuple[int, None]:
        assoc = event.assoc
        info = (event.event_type, event.event_information)
        reports.append((*info, assoc.requestor.ae_title, assoc.is_acceptor))
        return 0x0000, None

    listener = AE(ae_title="MODALITY")
    # Accept the requestor (raddx) taking the SCP role for this class (PS3.7 D.3.3.4).
    listener.add_supported_context(StorageCommitmentPushModel, scu_role=False, scp_role=True)
    port = free_port()
    server = listener.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)]
    )
    remote = {
        "ae_title": "MODALITY",
        "host": "127.0.0.1",
        "port": port,
        "storage_commitment_report": "new_association",
    }
    try:
        with _server_with(services, remote) as address:
            transaction = generate_uid()
            request = _request([(ds.SOPClassUID, ds.SOPInstanceUID)], transaction)
            assert _n_action_then_release(address, request) == 0x0000
            wait_for(lambda: bool(reports), timeout=10)
    finally:
        server.shutdown()
    ((event_type, info, calling_ae, listener_accepted),) = reports
    assert event_type == 1
    assert info.TransactionUID == transaction
    assert [i.ReferencedSOPInstanceUID for i in info.ReferencedSOPSequence] == [ds.SOPInstanceUID]
    assert calling_ae == "RADDX"  # raddx opened it: a new association, not the N-ACTION's
    assert listener_accepted


# pynetdicom 3.0 leaks the socket of a refused connect (see test_dimse_retrieve.py).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_report_to_an_unreachable_requestor_is_logged(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """new_association with nothing listening: the N-ACTION still succeeds (commitment was
    decided), the undelivered report is logged; the modality asks again."""
    ds = make_dataset()
    services.ingest.store(to_part10(ds), source="test")
    remote = {
        "ae_title": "MODALITY",
        "host": "127.0.0.1",
        "port": free_port(),
        "storage_commitment_report": "new_association",
    }
    with (
        caplog.at_level(logging.WARNING, logger="raddx.dimse.commitment"),
        _server_with(services, remote) as address,
    ):
        request = _request([(ds.SOPClassUID, ds.SOPInstanceUID)], generate_uid())
        assert _n_action_then_release(address, request) == 0x0000
        wait_for(lambda: "not delivered" in caplog.text, timeout=10)
    assert "remote_ae=MODALITY" in caplog.text


def test_unknown_report_mode_is_refused_by_settings() -> None:
    with pytest.raises(ValidationError, match="storage_commitment_report"):
        RemoteAE(ae_title="M", host="h", port=104, storage_commitment_report="later")
