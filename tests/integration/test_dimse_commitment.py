"""Storage Commitment Push Model SCP (PS3.4 J.3) against a pynetdicom SCU on loopback: the
N-EVENT-REPORT arrives on the requesting association and commits only what can be read."""

from __future__ import annotations

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
from helpers import wait_for
from raddx.db.models import Instance
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
