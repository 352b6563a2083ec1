"""Accession number issuers on reconciliation (issue 6 §6), SQLite and PostgreSQL: an OMI^O23
in ISO-2022-JP names the issuer in IPC-1 (kanji that collide with the HL7 delimiters);
images of the same number link when the issuer agrees or is absent, and stay unmatched
with the reason when it differs (on arrival and by ``POST /api/reconciliation/auto``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from sqlalchemy import select

from dicom_factory import make_dataset, to_part10
from helpers import run_tool, start_dimse_server
from hl7_samples import IR87, encode, omg, segment
from raddx.db.models import RisOrder, RisStudyLink, Study
from raddx.hl7 import MessageHandler
from raddx.services import Services

HOSPITAL = "東京病院放射線科"  # 放 holds '|' and 線 '~' in ISO-2022-JP


def _omi(placer: str, accession: str, issuer: str) -> str:
    message = omg(placer, control_id=f"M-{placer}").replace("OMG^O19^OMG_O19", "OMI^O23^OMI_O23")
    return message + "\r" + segment("IPC", {1: f"{accession}^{issuer}", 5: "CT"})


def _answer(services: Services, message: str) -> list[list[str]]:
    text = MessageHandler(services.session_factory)(encode(message, IR87)).decode("iso2022_jp")
    return [s.split("|") for s in text.strip("\r").split("\r")]


def _store(services: Services, accession: str, issuer: str | None) -> str:
    study = generate_uid()
    ds = make_dataset(study_uid=study, accession=accession, charset="\\ISO 2022 IR 87")
    if issuer is not None:
        item = Dataset()
        item.LocalNamespaceEntityID = issuer
        ds.IssuerOfAccessionNumberSequence = [item]
    services.ingest.store(to_part10(ds), source="test")
    return study


def _linked(services: Services) -> set[str]:
    with services.session_factory() as session:
        return set(session.scalars(select(RisStudyLink.study_instance_uid)))


def test_issuer_from_ipc_1_is_kept_and_compared(services: Services, http_url: str) -> None:
    answer = _answer(services, _omi("ORD-J1", "ACC-J1", HOSPITAL))
    assert next(s for s in answer if s[0] == "MSA")[1] == "AA", answer
    with services.session_factory() as session:
        order = session.scalars(select(RisOrder)).one()
    assert (order.accession_number, order.issuer_of_accession_number) == ("ACC-J1", HOSPITAL)

    other = _store(services, "ACC-J1", "横浜クリニック")  # another namespace's ACC-J1
    assert _linked(services) == set()
    with services.session_factory() as session:
        stored = session.scalars(select(Study).where(Study.study_instance_uid == other)).one()
    assert stored.issuer_of_accession_number == "横浜クリニック"  # decoded from IR 87
    (unmatched,) = httpx.get(f"{http_url}/api/reconciliation/unmatched").json()
    assert unmatched["StudyInstanceUID"] == other
    assert unmatched["IssuerOfAccessionNumber"] == "横浜クリニック"
    assert "another issuer" in unmatched["reason"]
    assert HOSPITAL in unmatched["reason"] and "横浜クリニック" in unmatched["reason"]
    # The automatic pass applies the same rule.
    assert httpx.post(f"{http_url}/api/reconciliation/auto").json() == []

    same = _store(services, "ACC-J1", HOSPITAL)
    assert _linked(services) == {same}


def test_absent_issuer_links_by_the_number(services: Services, http_url: str) -> None:
    assert _answer(services, _omi("ORD-J2", "ACC-J2", HOSPITAL))[1][1] == "AA"
    study = _store(services, "ACC-J2", None)  # the modality copied only the number
    assert _linked(services) == {study}
    # An order without issuer (raddx numbered it, or the HIS sent none) and an image with one.
    assert _answer(services, omg("ORD-J3", control_id="M-J3"))[1][1] == "AA"
    with services.session_factory() as session:
        accession = session.scalars(
            select(RisOrder.accession_number).where(RisOrder.placer_order_number == "ORD-J3")
        ).one()
    late = _store(services, accession, "横浜クリニック")
    assert late in _linked(services)


def test_images_before_an_order_of_another_issuer(services: Services, http_url: str) -> None:
    study = _store(services, "ACC-J4", "横浜クリニック")
    before = httpx.get(f"{http_url}/api/reconciliation/unmatched").json()
    assert "no order has accession number 'ACC-J4'" in before[0]["reason"]
    assert _answer(services, _omi("ORD-J4", "ACC-J4", HOSPITAL))[1][1] == "AA"
    assert httpx.post(f"{http_url}/api/reconciliation/auto").json() == []
    (after,) = httpx.get(f"{http_url}/api/reconciliation/unmatched").json()
    assert after["StudyInstanceUID"] == study
    assert "another issuer" in after["reason"]


def test_bad_issuer_in_ipc_1_is_refused(services: Services) -> None:
    # A universal ID without its type: AE naming IPC-1, nothing stored.
    answer = _answer(services, _omi("ORD-J5", "ACC-J5", "^1.2.392.200036^"))
    assert next(s for s in answer if s[0] == "MSA")[1] == "AE"
    err = next(s for s in answer if s[0] == "ERR")
    assert err[2].startswith("IPC^1"), err
    assert "UniversalEntityIDType" in err[8]
    with services.session_factory() as session:
        assert session.scalars(select(RisOrder)).all() == []


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "pynetdicom"])
def test_worklist_answers_the_orders_issuer(
    services: Services, dcmtk: Callable[[str], str], tmp_path: Path, fast_path: bool
) -> None:
    """A modality asking for IssuerOfAccessionNumberSequence gets the order's, so the images
    it makes carry it and reconciliation can compare (DCMTK findscu -W, ISO 2022 IR 87)."""
    assert _answer(services, _omi("ORD-J6", "ACC-J6", HOSPITAL))[1][1] == "AA"
    assert _answer(services, omg("ORD-J7", control_id="M-J7"))[1][1] == "AA"  # no issuer
    query = Dataset()
    query.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    query.AccessionNumber = ""
    query.IssuerOfAccessionNumberSequence = Sequence([])
    query.ScheduledProcedureStepSequence = Sequence([Dataset()])
    query_file = tmp_path / "query.dcm"
    query.save_as(query_file, implicit_vr=False, little_endian=True)
    settings = services.settings.model_copy(update={"dicom_fast_path": fast_path})
    server = start_dimse_server(services, settings)
    try:
        host, port = server.address
        out = tmp_path / "out"
        out.mkdir()
        command = [dcmtk("findscu"), "-W", "-aec", "RADDX", "-X", "-od", str(out)]
        result = run_tool([*command, host, str(port), str(query_file)])
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    answers = {
        str(ds.AccessionNumber): ds for ds in map(pydicom.dcmread, sorted(out.glob("rsp*.dcm")))
    }
    (item,) = answers["ACC-J6"].IssuerOfAccessionNumberSequence
    assert item.LocalNamespaceEntityID == HOSPITAL
    (other,) = [a for k, a in answers.items() if k != "ACC-J6"]
    assert len(other.IssuerOfAccessionNumberSequence) == 0  # present, empty: none known


def test_order_by_rest_with_an_issuer(services: Services, http_url: str) -> None:
    order = {
        "patient_id": "P-REST",
        "patient_name": "Migita^Aya=右田^綾",
        "accession_number": "ACC-R1",
        "issuer_of_accession_number": {
            "LocalNamespaceEntityID": HOSPITAL,
            "UniversalEntityID": "1.2.392.200036.9116.2",
            "UniversalEntityIDType": "ISO",
        },
        "procedures": [{"modality": "CT", "scheduled_start_date": "20261126"}],
    }
    placed = httpx.post(f"{http_url}/api/orders", json=order)
    assert placed.status_code == 201, placed.text
    with services.session_factory() as session:
        stored = session.scalars(select(RisOrder.issuer_of_accession_number)).one()
    assert stored == f"{HOSPITAL}^1.2.392.200036.9116.2^ISO"
    other = _store(services, "ACC-R1", "横浜クリニック")
    assert _linked(services) == set()
    (unmatched,) = httpx.get(f"{http_url}/api/reconciliation/unmatched").json()
    assert unmatched["StudyInstanceUID"] == other

    bad = dict(order, accession_number="ACC-R2", placer_order_number="ORD-R2")
    bad["issuer_of_accession_number"] = {"UniversalEntityID": "1.2.392"}  # type missing
    refused = httpx.post(f"{http_url}/api/orders", json=bad)
    assert refused.status_code == 400, refused.text
    assert "UniversalEntityIDType" in refused.json()["detail"]
    with services.session_factory() as session:
        assert session.scalars(select(RisOrder.accession_number)).all() == ["ACC-R1"]
