"""Issue 6's end-to-end loop with real peers, on SQLite and PostgreSQL: OMG^O19 over MLLP →
DCMTK findscu -W returns the item → images stored with that accession (DCMTK storescu) →
MPPS N-CREATE / N-SET COMPLETED from a pynetdicom SCU → the order is completed, the study
linked, OMI^Z23 (with ZE1/ZE2) reaches a test MLLP listener, and the MPPS is forwarded to a
second MPPS SCP (pynetdicom) without delaying the modality's answers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]
from sqlalchemy import select

from dicom_factory import make_dataset, to_part10
from helpers import free_port, run_tool, start_dimse_server, wait_for
from hl7_samples import encode, omg
from mllp_peer import MllpPeer
from raddx.config import load_settings
from raddx.db.models import RisOrder, RisStudyLink
from raddx.hl7 import MessageHandler, MllpServer
from raddx.hl7.client import send_message
from raddx.outbox.worker import OutboxWorker
from raddx.services import Services


class MppsPeer:
    """A second MPPS SCP (pynetdicom) recording what is forwarded to it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, Dataset]] = []
        self._lock = threading.Lock()
        ae = AE(ae_title="PEERMPPS")
        ae.add_supported_context(ModalityPerformedProcedureStep)
        handlers = [(evt.EVT_N_CREATE, self._create), (evt.EVT_N_SET, self._set)]
        self.port = free_port()
        self._server = ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=handlers)

    def _create(self, event: Any) -> tuple[int, Dataset]:
        ds = event.attribute_list
        with self._lock:
            self.received.append(("N-CREATE", str(event.request.AffectedSOPInstanceUID), ds))
        return 0x0000, ds

    def _set(self, event: Any) -> tuple[int, Dataset]:
        ds = event.modification_list
        with self._lock:
            self.received.append(("N-SET", str(event.request.RequestedSOPInstanceUID), ds))
        return 0x0000, ds

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def his() -> Iterator[MllpPeer]:
    peer = MllpPeer().start()
    yield peer
    peer.stop()


@pytest.fixture
def mpps_peer() -> Iterator[MppsPeer]:
    peer = MppsPeer()
    yield peer
    peer.stop()


@pytest.fixture
def services(
    tmp_path: Path, database_url: str, his: MllpPeer, mpps_peer: MppsPeer
) -> Iterator[Services]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        hl7_destinations=[
            {"name": "his", "host": "127.0.0.1", "port": his.port, "messages": ["z23"]}
        ],
        remote_aes=[{"ae_title": "PEERMPPS", "host": "127.0.0.1", "port": mpps_peer.port}],
        mpps_forward_aes=["PEERMPPS"],
        outbox_poll_interval=0.05,
        outbox_retry_initial=0.05,
        hl7_timeout=5,
    )
    svc = Services.from_settings(settings)
    yield svc
    svc.close()


def _mpps_create(order: RisOrder, study_uid: str, sps_id: str) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    item = Dataset()
    item.StudyInstanceUID = study_uid
    item.ScheduledProcedureStepID = sps_id
    item.AccessionNumber = order.accession_number
    item.ReferencedStudySequence = Sequence([])
    ds.ScheduledStepAttributesSequence = Sequence([item])
    ds.PatientName = "=右田^施=ミギタ^ホドコシ"
    ds.PatientID = "0012345"
    ds.PerformedProcedureStepID = "PPS1"
    ds.PerformedStationAETitle = "CT01"
    ds.PerformedProcedureStepStartDate = "20261126"
    ds.PerformedProcedureStepStartTime = "093500"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.Modality = "CT"
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.PerformedSeriesSequence = Sequence([])
    return ds


def _mpps_completed() -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = "20261126"
    ds.PerformedProcedureStepEndTime = "094500"
    film = Dataset()
    film.NumberOfFilms = 2
    film.MediumType = "BLUE FILM"
    film.FilmSizeID = "14INX17IN"
    ds.FilmConsumptionSequence = Sequence([film])
    exposure = Dataset()
    exposure.KVP = 120
    exposure.XRayTubeCurrentInuA = 250000
    exposure.ExposureTime = 800
    ds.ExposureDoseSequence = Sequence([exposure])
    return ds


def test_order_to_performed_exam_notification(
    services: Services,
    his: MllpPeer,
    mpps_peer: MppsPeer,
    dcmtk: Callable[[str], str],
    tmp_path: Path,
) -> None:
    mllp = MllpServer(MessageHandler(services.session_factory), "127.0.0.1", 0)
    mllp.start()
    dimse = start_dimse_server(services)
    worker = OutboxWorker(services.settings, services.session_factory)
    worker.start()
    try:
        # 1. The HIS orders a chest CT (ISO-2022-JP, delimiter-colliding kanji).
        ack = send_message(*mllp.address, encode(omg("ORDE2E")))
        assert ack.code == "AA"
        with services.session_factory() as session:
            order = session.scalars(
                select(RisOrder).where(RisOrder.placer_order_number == "ORDE2E")
            ).one()
            session.expunge(order)
        # 2. The modality's worklist query (DCMTK findscu -W) returns the item.
        query = Dataset()
        query.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
        query.PatientName = ""
        query.AccessionNumber = order.accession_number
        query.StudyInstanceUID = ""
        item = Dataset()
        item.Modality = "CT"
        item.ScheduledProcedureStepID = ""
        query.ScheduledProcedureStepSequence = Sequence([item])
        query_file = tmp_path / "query.dcm"
        query.save_as(query_file, implicit_vr=False, little_endian=True)
        host, port = dimse.address
        out = tmp_path / "mwl"
        out.mkdir()
        command = [dcmtk("findscu"), "-W", "-aec", "RADDX", "-X", "-od", str(out)]
        result = run_tool([*command, host, str(port), str(query_file)])
        assert result.returncode == 0, result.stderr
        (answer,) = [pydicom.dcmread(p) for p in out.glob("rsp*.dcm")]
        assert answer.AccessionNumber == order.accession_number
        study_uid = str(answer.StudyInstanceUID)
        sps_id = str(answer.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID)
        # 3. Images stored with that accession and Study UID (DCMTK storescu).
        image = tmp_path / "ct.dcm"
        image.write_bytes(
            to_part10(
                make_dataset(
                    patient_id="0012345", accession=order.accession_number, study_uid=study_uid
                )
            )
        )
        stored = run_tool([dcmtk("storescu"), "-aec", "RADDX", host, str(port), str(image)])
        assert stored.returncode == 0, stored.stderr
        # 4. The modality reports the step: N-CREATE IN PROGRESS, N-SET COMPLETED.
        ae = AE(ae_title="CT01")
        ae.add_requested_context(ModalityPerformedProcedureStep)
        assoc = ae.associate(host, port, ae_title="RADDX")
        assert assoc.is_established
        try:
            status, _ = assoc.send_n_create(
                _mpps_create(order, study_uid, sps_id), ModalityPerformedProcedureStep, "1.2.3.99"
            )
            assert status.Status == 0x0000
            status, _ = assoc.send_n_set(
                _mpps_completed(), ModalityPerformedProcedureStep, "1.2.3.99"
            )
            assert status.Status == 0x0000
        finally:
            assoc.release()

        def completed() -> bool:
            with services.session_factory() as session:
                row = session.get(RisOrder, order.id)
                return row is not None and row.status == "COMPLETED"

        wait_for(completed)
        # The study is linked to the order (reconciliation, issue 6 §6).
        with services.session_factory() as session:
            link = session.scalars(
                select(RisStudyLink).where(RisStudyLink.study_instance_uid == study_uid)
            ).one()
            assert link.order_fk == order.id
        # 5. OMI^Z23 reached the HIS with the accession, the study and ZE1/ZE2.
        wait_for(lambda: len(his.received) == 1)
        (text,) = his.messages()
        segments = [s.split("|") for s in text.strip("\r").split("\r")]
        by_name = {s[0]: s for s in segments}
        assert by_name["MSH"][8] == "OMI^Z23^OMI_Z23" and by_name["MSH"][17] == "~ISO IR87"
        assert by_name["ORC"][1] == "SC" and by_name["ORC"][5] == "CM"
        assert by_name["IPC"][1] == order.accession_number and by_name["IPC"][3] == study_uid
        assert by_name["OBR"][18] == order.accession_number
        assert by_name["ZE1"][2] == "CM"
        assert by_name["ZE1"][3].startswith("6000000200020000") and "右肺" in by_name["ZE1"][3]
        assert by_name["ZE1"][9] == "14INX17IN^BLUE FILM^FILM^2^枚"
        assert by_name["ZE2"][2:6] == ["120^kV", "250^mA", "", "800^ms"]
        assert by_name["PID"][5].startswith("右田^施^^^^^L^I")
        # 6. The MPPS went on to the second SCP, N-CREATE before N-SET, same SOP Instance.
        wait_for(lambda: len(mpps_peer.received) == 2)
        (op1, uid1, created), (op2, uid2, finished) = mpps_peer.received
        assert (op1, op2) == ("N-CREATE", "N-SET") and uid1 == uid2 == "1.2.3.99"
        assert str(created.PatientName) == "=右田^施=ミギタ^ホドコシ"
        assert finished.PerformedProcedureStepStatus == "COMPLETED"
    finally:
        worker.stop()
        dimse.stop()
        mllp.stop()


def test_forwarding_does_not_wait_for_a_dead_peer(tmp_path: Path, database_url: str) -> None:
    # The forward AE is down: the modality's N-CREATE is answered at once, the forward waits
    # in the outbox as pending with the reason.
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        remote_aes=[{"ae_title": "DOWN", "host": "127.0.0.1", "port": free_port()}],
        mpps_forward_aes=["DOWN"],
        hl7_timeout=2,
    )
    services = Services.from_settings(settings)
    dimse = start_dimse_server(services)
    try:
        ae = AE(ae_title="CT01")
        ae.add_requested_context(ModalityPerformedProcedureStep)
        assoc = ae.associate(*dimse.address, ae_title="RADDX")
        ds = Dataset()
        item = Dataset()
        item.StudyInstanceUID = "1.2.3.4"
        ds.ScheduledStepAttributesSequence = Sequence([item])
        for keyword, value in (
            ("PerformedProcedureStepID", "P1"),
            ("PerformedStationAETitle", "CT01"),
            ("PerformedProcedureStepStartDate", "20261126"),
            ("PerformedProcedureStepStartTime", "0935"),
            ("PerformedProcedureStepStatus", "IN PROGRESS"),
            ("Modality", "CT"),
        ):
            setattr(ds, keyword, value)
        status, _ = assoc.send_n_create(ds, ModalityPerformedProcedureStep, "1.2.3.98")
        assoc.release()
        assert status.Status == 0x0000
        worker = OutboxWorker(settings, services.session_factory)
        worker.run_once()
        from raddx.outbox import list_entries

        with services.session_factory() as session:
            (entry,) = list_entries(session=session)
        assert (entry.event, entry.action, entry.status) == ("mpps", "N-CREATE", "pending")
        assert entry.destination == "DOWN" and "cannot associate" in (entry.last_error or "")
    finally:
        dimse.stop()
        services.close()
