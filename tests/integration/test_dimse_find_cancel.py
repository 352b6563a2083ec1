"""C-CANCEL of a C-FIND (PS3.4 C.4.1.2.3) against a pynetdicom SCU on loopback: the pending
responses are written straight to the socket (raddx.dimse._direct_link.direct_writes) while
pynetdicom still reads the C-CANCEL; on SQLite and PostgreSQL."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from dicom_factory import make_dataset, to_part10
from raddx.services import Services

STUDIES = 200


def _query() -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientID = "CANCEL1"
    ds.StudyInstanceUID = ""
    return ds


def test_cancel_stops_the_answers(services: Services, dimse_server: tuple[str, int]) -> None:
    for _ in range(STUDIES):
        services.ingest.store(to_part10(make_dataset(patient_id="CANCEL1")), source="test")
    model = StudyRootQueryRetrieveInformationModelFind
    ae = AE(ae_title="FINDER")
    ae.add_requested_context(model)
    assoc = ae.associate(*dimse_server, ae_title="RADDX")
    assert assoc.is_established
    statuses: list[int] = []
    try:
        context_id = assoc._get_valid_context(model, "", "scu").context_id
        for status, _identifier in assoc.send_c_find(_query(), model, msg_id=9):
            statuses.append(int(status.Status))
            if len(statuses) == 1:
                assoc.send_c_cancel(9, context_id)
        # The association still works after the cancel: the same query in full.
        complete = [int(s.Status) for s, _ in assoc.send_c_find(_query(), model, msg_id=10)]
    finally:
        assoc.release()
    assert statuses[-1] == 0xFE00
    assert 1 <= statuses.count(0xFF00) < STUDIES
    assert complete == [0xFF00] * STUDIES + [0x0000]
