"""RetrieveService: the retrieve rules over the query engine, and reading the stored objects."""

from __future__ import annotations

from io import BytesIO

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from dicom_factory import make_dataset, to_part10
from raddx.archive import RetrieveService
from raddx.archive.part10 import read_file_meta
from raddx.archive.query import InstanceRef, Query
from raddx.archive.retrieve import check_retrieve_query
from raddx.errors import InvalidInput
from raddx.services import Services

UID = "1.2.3.4"


@pytest.mark.parametrize(
    ("level", "model", "keys", "ok"),
    [
        ("STUDY", "STUDY_ROOT", {"StudyInstanceUID": UID}, True),
        ("STUDY", "STUDY_ROOT", {"StudyInstanceUID": ""}, False),  # would send everything
        ("STUDY", "STUDY_ROOT", {"PatientID": "P1"}, False),  # not the level's Unique Key
        ("SERIES", "STUDY_ROOT", {"SeriesInstanceUID": UID}, True),
        ("SERIES", "STUDY_ROOT", {"StudyInstanceUID": UID}, False),
        ("IMAGE", "PATIENT_ROOT", {"SOPInstanceUID": f"{UID}\\{UID}.1"}, True),  # UID list
        ("PATIENT", "PATIENT_ROOT", {"PatientID": "P1"}, True),
        ("PATIENT", "PATIENT_ROOT", {"PatientID": None}, False),
    ],
)
def test_unique_key_of_the_level_is_required(
    level: str, model: str, keys: dict[str, str | None], ok: bool
) -> None:
    query = Query(level=level, information_model=model, keys=keys)
    if ok:
        check_retrieve_query(query)
    else:
        with pytest.raises(InvalidInput, match="is required"):
            check_retrieve_query(query)


def _store(services: Services, **kwargs: str) -> pydicom.Dataset:
    ds = make_dataset(**kwargs)  # type: ignore[arg-type]
    services.ingest.store(to_part10(ds), source="test")
    return ds


def test_instances_at_each_level(services: Services) -> None:
    study, series = generate_uid(), generate_uid()
    a = _store(services, patient_id="P1", study_uid=study, series_uid=series)
    b = _store(services, patient_id="P1", study_uid=study)
    c = _store(services, patient_id="P1")
    _store(services, patient_id="P2")
    retrieve = RetrieveService(services.session_factory, services.blobs)

    def uids(level: str, model: str = "STUDY_ROOT", **keys: str) -> set[str]:
        query = Query(level=level, information_model=model, keys=keys)
        return {ref.sop_instance_uid for ref in retrieve.instances(query)}

    assert uids("STUDY", StudyInstanceUID=study) == {a.SOPInstanceUID, b.SOPInstanceUID}
    assert uids("SERIES", SeriesInstanceUID=series) == {a.SOPInstanceUID}
    assert uids("IMAGE", SOPInstanceUID=b.SOPInstanceUID) == {b.SOPInstanceUID}
    assert uids("PATIENT", "PATIENT_ROOT", PatientID="P1") == {
        a.SOPInstanceUID,
        b.SOPInstanceUID,
        c.SOPInstanceUID,
    }
    assert uids("STUDY", StudyInstanceUID=generate_uid()) == set()


class _Blobs:
    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs

    def get(self, key: str) -> bytes:
        return self.blobs[key]


def test_read_keeps_the_stored_bytes_and_reports_unreadable_objects() -> None:
    ds = make_dataset()
    good_bytes = to_part10(ds, ImplicitVRLittleEndian)
    refs = [
        InstanceRef(ds.SOPClassUID, ds.SOPInstanceUID, ImplicitVRLittleEndian, "good"),
        InstanceRef(ds.SOPClassUID, generate_uid(), ExplicitVRLittleEndian, "missing"),
        InstanceRef(ds.SOPClassUID, generate_uid(), ExplicitVRLittleEndian, "garbage"),
        # Cut inside the pixel data: pydicom would read it without complaint.
        InstanceRef(ds.SOPClassUID, generate_uid(), ImplicitVRLittleEndian, "torn"),
    ]
    blobs = _Blobs({"good": good_bytes, "garbage": b"not dicom", "torn": good_bytes[:-10]})
    retrieve = RetrieveService(None, blobs)  # type: ignore[arg-type]
    good, missing, garbage, torn = retrieve.read(refs)
    assert good.error is None and good.part10 == good_bytes and good.verbatim
    assert good.meta is not None
    assert good.meta.transfer_syntax_uid == ImplicitVRLittleEndian
    decoded = good.decode()
    assert decoded.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert decoded.SOPInstanceUID == ds.SOPInstanceUID
    assert pydicom.dcmread(BytesIO(good_bytes)).PixelData == decoded.PixelData
    for failed in (missing, garbage, torn):
        assert failed.part10 is None and failed.meta is None
        assert failed.error
        with pytest.raises(OSError):
            failed.decode()


def test_read_marks_a_dataset_not_encoded_as_its_syntax_says() -> None:
    """Implicit VR bytes under an Explicit VR file meta (tolerated at ingest, as pydicom does)
    must be re-encoded before they are sent."""
    ds = make_dataset()
    implicit = to_part10(ds, ImplicitVRLittleEndian)
    explicit_meta = to_part10(ds, ExplicitVRLittleEndian)
    meta_end = read_file_meta(explicit_meta).dataset_offset
    mislabelled = explicit_meta[:meta_end] + implicit[read_file_meta(implicit).dataset_offset :]
    ref = InstanceRef(ds.SOPClassUID, ds.SOPInstanceUID, ExplicitVRLittleEndian, "k")
    (retrieved,) = RetrieveService(None, _Blobs({"k": mislabelled})).read([ref])  # type: ignore[arg-type]
    assert retrieved.error is None
    assert not retrieved.verbatim
