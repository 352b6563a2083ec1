"""Modality Worklist SCP against DCMTK ``findscu -W``, on SQLite and PostgreSQL.

Orders are placed through the RIS service; findscu writes each answer to a file (``-X -od``)
and the files are read back with pydicom, so the check is on what the modality received,
decoded with the answer's Specific Character Set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from helpers import run_tool, start_dimse_server
from raddx.ris import OrderCreate, PatientData, ProcedureCreate, place_order
from raddx.services import Services

JJ = "6000000200020000" + "2800000000000000"
YAMADA = "Yamada^Taro=山田^太郎=ヤマダ^タロウ"


@pytest.fixture(params=[True, False], ids=["fast-path", "pynetdicom"])
def worklist_server(
    services: Services, request: pytest.FixtureRequest
) -> Iterator[tuple[str, int]]:
    """Both DIMSE paths serve the worklist: raddx's fast path and pynetdicom's handler."""
    rows = [
        ("P1", YAMADA, "CT", "CT01", "20261126", JJ),
        ("P2", "Suzuki^Hanako=鈴木^花子=スズキ^ハナコ", "MR", "MR01", "20261127", None),
    ]
    with services.session_factory() as session, session.begin():
        for pid, name, modality, aet, date, code in rows:
            procedure = ProcedureCreate(
                modality=modality,
                scheduled_start_date=date,
                scheduled_start_time="093000",
                scheduled_station_ae_title=aet,
                jj1017_code=code,
                description="胸部単純CT" if code else "頭部MRI",
            )
            place_order(
                OrderCreate(patient=PatientData(pid, "HOSP", name), procedures=(procedure,)),
                session=session,
            )
    settings = services.settings.model_copy(update={"dicom_fast_path": request.param})
    server = start_dimse_server(services, settings)
    yield server.address
    server.stop()


def _findscu(
    dcmtk: Callable[[str], str], server: tuple[str, int], out: Path, query: Dataset
) -> list[Dataset]:
    out.mkdir(parents=True, exist_ok=True)
    query_file = out / "query.dcm"
    query.save_as(query_file, implicit_vr=False, little_endian=True)
    host, port = server
    command = [dcmtk("findscu"), "-W", "-aec", "RADDX", "-X", "-od", str(out)]
    result = run_tool([*command, host, str(port), str(query_file)])
    assert result.returncode == 0, result.stderr
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def _query(charset: str | None = None, **step: str) -> Dataset:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.PatientName = ""
    ds.PatientID = ""
    ds.AccessionNumber = ""
    ds.StudyInstanceUID = ""
    item = Dataset()
    item.Modality = step.get("Modality", "")
    item.ScheduledStationAETitle = step.get("ScheduledStationAETitle", "")
    item.ScheduledProcedureStepStartDate = step.get("ScheduledProcedureStepStartDate", "")
    item.ScheduledProcedureStepStartTime = ""
    item.ScheduledProcedureStepID = ""
    item.ScheduledProtocolCodeSequence = Sequence([])
    ds.ScheduledProcedureStepSequence = Sequence([item])
    return ds


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({}, ["P1", "P2"]),
        ({"Modality": "CT"}, ["P1"]),
        ({"ScheduledStationAETitle": "MR01"}, ["P2"]),
        ({"ScheduledProcedureStepStartDate": "20261127-20261231"}, ["P2"]),
    ],
)
def test_findscu_worklist_matching(
    worklist_server: tuple[str, int],
    dcmtk: Callable[[str], str],
    tmp_path: Path,
    step: dict[str, str],
    expected: list[str],
) -> None:
    answers = _findscu(dcmtk, worklist_server, tmp_path, _query(**step))
    assert sorted(str(a.PatientID) for a in answers) == expected


def test_findscu_japanese_name_in_iso_2022_ir_87(
    worklist_server: tuple[str, int], dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    query = _query()
    query.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    query.PatientName = "=山田*"
    (answer,) = _findscu(dcmtk, worklist_server, tmp_path, query)
    assert list(answer.SpecificCharacterSet) == ["", "ISO 2022 IR 87"]
    assert str(answer.PatientName) == YAMADA
    assert answer.AccessionNumber.startswith("RX")
    (step,) = answer.ScheduledProcedureStepSequence
    assert (step.Modality, step.ScheduledStationAETitle) == ("CT", "CT01")
    (code,) = step.ScheduledProtocolCodeSequence
    assert (code.CodeValue, code.CodingSchemeDesignator) == (JJ[:16], "JJ1017-16M")
    assert code.CodeMeaning == "胸部単純CT"
    conditions = code.ProtocolContextSequence[0].ConceptCodeSequence[0]
    assert (conditions.CodeValue, conditions.CodingSchemeDesignator) == (JJ[16:], "JJ1017-16S")


def test_findscu_bad_date_range_is_refused(
    worklist_server: tuple[str, int], dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    with pytest.warns(UserWarning, match="Invalid value for VR DA"):
        query = _query(ScheduledProcedureStepStartDate="2026-11-26")
    out = tmp_path
    query_file = out / "query.dcm"
    query.save_as(query_file, implicit_vr=False, little_endian=True)
    host, port = worklist_server
    result = run_tool(
        [dcmtk("findscu"), "-v", "-W", "-aec", "RADDX", host, str(port), str(query_file)]
    )
    # 0xA900: the modality is told its identifier is wrong, not sent an empty worklist.
    assert "DataSetDoesNotMatchSOPClass" in result.stdout + result.stderr
