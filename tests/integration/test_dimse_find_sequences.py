"""C-FIND sequence matching, timezone adjustment and fuzzy name matching through real peers.

DCMTK findscu sends sequence keys (``-k ProcedureCodeSequence[0].CodeValue=…``) and
ISO 2022 IR 87 query files; it cannot negotiate SOP class extended negotiation, so fuzzy
semantic matching is negotiated by a pynetdicom SCU. SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.pdu_primitives import SOPClassExtendedNegotiation
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from dicom_factory import make_dataset, to_part10
from helpers import run_tool
from postgres_fixture import _database, _server_url
from raddx.config import load_settings
from raddx.dimse import DimseServer, listen_socket
from raddx.services import Services

pytestmark = pytest.mark.dcmtk

STUDY, SERIES_A, SERIES_B = generate_uid(), generate_uid(), generate_uid()
JAPANESE = ["ISO 2022 IR 6", "ISO 2022 IR 87"]
NAME = "Satou^Tarou=佐藤^太郎=さとう^たろう"
FIND = StudyRootQueryRetrieveInformationModelFind


def _item(**values: str) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _load(services: Services) -> None:
    for series, request in ((SERIES_A, "RP1"), (SERIES_B, "RP2")):
        ds = make_dataset(
            patient_id="S1", patient_name=NAME, charset=JAPANESE, study_uid=STUDY, series_uid=series
        )
        ds.StudyDate, ds.StudyTime, ds.TimezoneOffsetFromUTC = "20240101", "080000", "+0900"
        ds.ProcedureCodeSequence = Sequence(
            [_item(CodeValue="32000000", CodingSchemeDesignator="JJ1017", CodeMeaning="胸部CT")]
        )
        ds.RequestAttributesSequence = Sequence(
            [_item(RequestedProcedureID=request, ScheduledProcedureStepID=f"SPS-{request}")]
        )
        services.ingest.store(to_part10(ds), source="test")
    ds = make_dataset(patient_id="S2", patient_name="Kato^Jiro")
    ds.StudyDate, ds.StudyTime = "20240101", "100000"
    services.ingest.store(to_part10(ds), source="test")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    tmp = tmp_path_factory.mktemp("find_sequences")
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            url = stack.enter_context(_database(_server_url(tmp_path_factory), "raddx_find_seq"))
        else:
            url = f"sqlite:///{tmp / 'index.sqlite'}"
        services = Services.from_settings(load_settings(data_dir=tmp / "data", database_url=url))
        stack.callback(services.close)
        _load(services)
        dimse = DimseServer(
            settings=services.settings,
            ingest=services.ingest,
            sock=listen_socket("127.0.0.1", 0),
            session_factory=services.session_factory,
        )
        dimse.start()
        stack.callback(dimse.stop)
        yield dimse.address


def _findscu(
    dcmtk: Callable[[str], str],
    server: tuple[str, int],
    out: Path,
    args: list[str],
    query_file: Path | None = None,
) -> tuple[list[Dataset], str]:
    out.mkdir(parents=True, exist_ok=True)
    command = [dcmtk("findscu"), "-v", "-S", "-aec", "RADDX", "-X", "-od", str(out), *args]
    files = [str(query_file)] if query_file else []
    result = run_tool([*command, server[0], str(server[1]), *files])
    assert result.returncode == 0, result.stderr
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))], result.stdout + result.stderr


def _study(*keys: str) -> list[str]:
    args = ["-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID"]
    for key in keys:
        args += ["-k", key]
    return args


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["ProcedureCodeSequence[0].CodeValue=32000000"], ["S1"]),
        (["ProcedureCodeSequence[0].CodeValue=3*"], ["S1"]),
        (["ProcedureCodeSequence[0].CodeValue=99"], []),
        (["RequestAttributesSequence[0].RequestedProcedureID=RP2"], ["S1"]),
        (["RequestAttributesSequence[0].ScheduledProcedureStepID=SPS-RP9"], []),
        # A zero-length sequence: universal, every study.
        (["ProcedureCodeSequence"], ["S1", "S2"]),
    ],
)
def test_findscu_sequence_keys(
    server: tuple[str, int],
    dcmtk: Callable[[str], str],
    tmp_path: Path,
    keys: list[str],
    expected: list[str],
) -> None:
    answers, _ = _findscu(dcmtk, server, tmp_path, _study(*keys))
    assert sorted(a.PatientID for a in answers) == expected


def test_findscu_gets_the_matching_items_decoded(
    server: tuple[str, int], dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    keys = _study(
        "RequestAttributesSequence[0].RequestedProcedureID=RP*",
        "RequestAttributesSequence[0].ScheduledProcedureStepID",
        "ProcedureCodeSequence[0].CodeMeaning",
    )
    [answer], _ = _findscu(dcmtk, server, tmp_path, keys)
    items = [
        (i.RequestedProcedureID, i.ScheduledProcedureStepID)
        for i in answer.RequestAttributesSequence
    ]
    assert items == [("RP1", "SPS-RP1"), ("RP2", "SPS-RP2")]
    assert [i.CodeMeaning for i in answer.ProcedureCodeSequence] == ["胸部CT"]
    assert "CodeValue" not in answer.ProcedureCodeSequence[0]  # only what was asked
    # The default repertoire cannot hold 胸部: the answer says UTF-8.
    assert answer.SpecificCharacterSet == "ISO_IR 192"


def test_findscu_series_level_sequence_key(
    server: tuple[str, int], dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    args = ["-k", "QueryRetrieveLevel=SERIES", "-k", f"StudyInstanceUID={STUDY}"]
    args += [
        "-k",
        "SeriesInstanceUID",
        "-k",
        "RequestAttributesSequence[0].RequestedProcedureID=RP2",
    ]
    [answer], _ = _findscu(dcmtk, server, tmp_path, args)
    assert answer.SeriesInstanceUID == SERIES_B


def test_findscu_japanese_sequence_key_in_iso2022(
    server: tuple[str, int], dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    query = Dataset()
    query.SpecificCharacterSet = JAPANESE
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = ""
    query.PatientName = ""
    query.ProcedureCodeSequence = Sequence([_item(CodeMeaning="胸部*")])
    query_file = tmp_path / "query.dcm"
    query.save_as(query_file, implicit_vr=False, little_endian=True)
    assert b"\x1b$B" in query_file.read_bytes()  # JIS X 0208 on the wire
    [answer], _ = _findscu(dcmtk, server, tmp_path / "out", [], query_file=query_file)
    assert answer.SpecificCharacterSet == JAPANESE  # the caller's set holds every value
    assert answer.ProcedureCodeSequence[0].CodeMeaning == "胸部CT"
    assert str(answer.PatientName) == NAME


@pytest.mark.parametrize(
    ("date", "timezone", "expected"),
    [
        # S1 is 2024-01-01 08:00 +0900 = 2023-12-31 23:00 UTC; S2 (no offset) 10:00 as UTC.
        ("20240101", None, ["S1", "S2"]),
        ("20240101", "+0000", ["S2"]),
        ("20231231", "+0000", ["S1"]),
    ],
)
def test_findscu_timezone_offset_adjusts_dates(
    server: tuple[str, int],
    dcmtk: Callable[[str], str],
    tmp_path: Path,
    date: str,
    timezone: str | None,
    expected: list[str],
) -> None:
    keys = [f"StudyDate={date}"]
    if timezone:
        keys.append(f"TimezoneOffsetFromUTC={timezone}")
    answers, _ = _findscu(dcmtk, server, tmp_path, _study(*keys))
    assert sorted(a.PatientID for a in answers) == expected


def test_findscu_two_items_in_a_sequence_key_get_a900(
    server: tuple[str, int], dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    keys = _study("ProcedureCodeSequence[0].CodeValue=1", "ProcedureCodeSequence[1].CodeValue=2")
    answers, output = _findscu(dcmtk, server, tmp_path, keys)
    assert answers == []
    assert "DataSetDoesNotMatchSOPClass" in output  # 0xA900


def _negotiated_find(
    server: tuple[str, int], keys: dict[str, str], *, negotiate: bool
) -> tuple[list[str], bytes, int]:
    """A Study Root C-FIND from a pynetdicom SCU proposing (or not) relational queries, fuzzy
    matching and timezone adjustment; returns the PatientIDs found, the accepted extended
    negotiation and the final status."""
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(FIND)
    extended = []
    if negotiate:
        item = SOPClassExtendedNegotiation()
        item.sop_class_uid = FIND
        # relational, combined date-time, fuzzy, timezone adjustment (PS3.4 C.5.1.1.1)
        item.service_class_application_information = b"\x01\x00\x01\x01"
        extended.append(item)
    assoc = ae.associate(*server, ae_title="RADDX", ext_neg=extended)
    assert assoc.is_established
    accepted = assoc.acceptor.sop_class_extended.get(FIND, b"")
    identifier = Dataset()
    identifier.SpecificCharacterSet = "ISO_IR 192"
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientID = ""
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    found, final = [], 0
    try:
        for status, answer in assoc.send_c_find(identifier, FIND):
            if status.Status in (0xFF00, 0xFF01):
                found.append(str(answer.PatientID))
            else:
                final = int(status.Status)
    finally:
        assoc.release()
    return sorted(found), accepted, final


@pytest.mark.parametrize(
    ("name", "negotiate", "expected"),
    [
        ("サトウ*", True, ["S1"]),  # katakana query, hiragana phonetic group
        ("サトウ*", False, []),
        ("Satō^Tarō", True, ["S1"]),
        ("Satō^Tarō", False, []),
        ("Satoh^Taro", True, ["S1"]),
        ("Satoh", True, []),  # one component is not Satou^Tarou: no partial-name matching
        ("Kato*", True, ["S2"]),
    ],
)
def test_fuzzy_matching_is_negotiated(
    server: tuple[str, int], name: str, negotiate: bool, expected: list[str]
) -> None:
    found, accepted, _ = _negotiated_find(server, {"PatientName": name}, negotiate=negotiate)
    assert found == expected
    # What was proposed (relational, fuzzy, timezone adjustment) is accepted.
    assert accepted == (b"\x01\x00\x01\x01" if negotiate else b"")


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"SeriesInstanceUID": SERIES_B}, ["S1"]),  # a series key at study level
        ({"Modality": "CT", "SeriesInstanceUID": SERIES_B}, ["S1"]),
        ({"Modality": "MR"}, []),
    ],
)
def test_relational_query_is_negotiated(
    server: tuple[str, int], keys: dict[str, str], expected: list[str]
) -> None:
    found, _, final = _negotiated_find(server, keys, negotiate=True)
    assert (found, final) == (expected, 0x0000)
    found, _, final = _negotiated_find(server, keys, negotiate=False)
    assert (found, final) == ([], 0xA900)  # a key below the level, not negotiated


@pytest.mark.parametrize("transfer_syntax", ["-xi", "-xe"])  # implicit / explicit VR on the wire
def test_items_of_objects_sent_by_storescu_are_indexed(
    dimse_server: tuple[str, int], dcmtk: Callable[[str], str], tmp_path: Path, transfer_syntax: str
) -> None:
    """C-STORE goes through the DIMSE door's own receive path (not ``ingest.store``): the
    sequence items of what storescu sent, with undefined lengths, are found by findscu."""
    ds = make_dataset(patient_id="W1", charset="ISO_IR 192")
    ds.RequestAttributesSequence = Sequence(
        [_item(RequestedProcedureID="RP7", RequestedProcedureDescription="胸部CT")]
    )
    ds["RequestAttributesSequence"].is_undefined_length = True
    ds.RequestAttributesSequence[0].is_undefined_length_sequence_item = True
    path = tmp_path / "w1.dcm"
    path.write_bytes(to_part10(ds))
    result = run_tool(
        [dcmtk("storescu"), transfer_syntax, "-aec", "RADDX", *map(str, dimse_server), str(path)]
    )
    assert result.returncode == 0, result.stderr
    keys = _study(
        "RequestAttributesSequence[0].RequestedProcedureID=RP7",
        "RequestAttributesSequence[0].RequestedProcedureDescription",
    )
    [answer], _ = _findscu(dcmtk, dimse_server, tmp_path / "out", keys)
    assert answer.PatientID == "W1"
    assert answer.RequestAttributesSequence[0].RequestedProcedureDescription == "胸部CT"
