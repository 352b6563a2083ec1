"""C-FIND SCP against real peers: DCMTK findscu and a pynetdicom SCU, on SQLite and PostgreSQL.

findscu writes every answer to a file (``-X -od``); the files are read back with pydicom so that
the check is on what the peer received, decoded with the answer's Specific Character Set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from helpers import run_tool
from postgres_fixture import _database, _server_url
from raddx.config import load_settings
from raddx.dimse import DimseServer, listen_socket
from raddx.dimse.find import DEFAULT_MAX_FIND_MATCHES
from raddx.services import Services

pytestmark = pytest.mark.dcmtk

J1_STUDY = generate_uid()
J1_SERIES = generate_uid()


def _load(services: Services) -> None:
    for number in (1, 2):
        ds = make_dataset(
            patient_id="J1",
            patient_name=JAPANESE_NAME,
            charset="ISO_IR 192",
            study_uid=J1_STUDY,
            series_uid=J1_SERIES,
        )
        ds.StudyDate = "20240115"
        ds.InstanceNumber = number
        services.ingest.store(to_part10(ds), source="test")
    ds = make_dataset(patient_id="D1", patient_name="Doe^John", modality="MR")
    ds.StudyDate = "20231231"
    services.ingest.store(to_part10(ds), source="test")


@dataclass
class _Archive:
    server: tuple[str, int]
    small_limit_server: tuple[str, int]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def archive(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Archive]:
    """One loaded index per backend with two live SCPs on it: the default one and one
    answering at most 2 matches. Module scope: starting servers per test would cost more than
    all the queries."""
    tmp = tmp_path_factory.mktemp("find")
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            url = stack.enter_context(_database(_server_url(tmp_path_factory), "raddx_find"))
        else:
            url = f"sqlite:///{tmp / 'index.sqlite'}"
        services = Services.from_settings(load_settings(data_dir=tmp / "data", database_url=url))
        stack.callback(services.close)
        _load(services)
        addresses = []
        for max_matches in (DEFAULT_MAX_FIND_MATCHES, 2):
            server = DimseServer(
                settings=services.settings.model_copy(update={"max_find_matches": max_matches}),
                ingest=services.ingest,
                sock=listen_socket("127.0.0.1", 0),
                session_factory=services.session_factory,
            )
            server.start()
            stack.callback(server.stop)
            addresses.append(server.address)
        yield _Archive(server=addresses[0], small_limit_server=addresses[1])


@pytest.fixture
def loaded_server(archive: _Archive) -> tuple[str, int]:
    return archive.server


def _findscu(
    dcmtk: Callable[[str], str],
    server: tuple[str, int],
    out: Path,
    args: list[str],
    *,
    root: str = "-S",
    query_file: Path | None = None,
) -> list[Dataset]:
    out.mkdir(parents=True, exist_ok=True)
    host, port = server
    files = [str(query_file)] if query_file else []
    command = [dcmtk("findscu"), "-v", root, "-aec", "RADDX", "-X", "-od", str(out), *args]
    result = run_tool([*command, host, str(port), *files])  # files come after the peer
    assert result.returncode == 0, result.stderr
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


@pytest.mark.parametrize(
    ("root", "level", "keys", "expected"),
    [
        ("-S", "STUDY", ["PatientID=J1"], ["J1"]),
        ("-S", "STUDY", ["PatientName=doe*"], ["D1"]),  # PN is case-insensitive
        ("-S", "STUDY", ["StudyDate=20240101-20241231"], ["J1"]),
        ("-S", "STUDY", ["StudyDate=-20231231"], ["D1"]),
        ("-P", "STUDY", ["PatientID=D1"], ["D1"]),
        ("-P", "PATIENT", ["PatientName=*"], ["D1", "J1"]),
        ("-S", "SERIES", [f"StudyInstanceUID={J1_STUDY}"], ["J1"]),
        (
            "-S",
            "IMAGE",
            [f"StudyInstanceUID={J1_STUDY}", f"SeriesInstanceUID={J1_SERIES}"],
            ["J1", "J1"],
        ),
        (
            "-P",
            "IMAGE",
            ["PatientID=J1", f"StudyInstanceUID={J1_STUDY}", f"SeriesInstanceUID={J1_SERIES}"],
            ["J1", "J1"],
        ),
    ],
)
def test_findscu_levels_and_roots(
    loaded_server: tuple[str, int],
    dcmtk: Callable[[str], str],
    tmp_path: Path,
    root: str,
    level: str,
    keys: list[str],
    expected: list[str],
) -> None:
    args: list[str] = ["-k", f"QueryRetrieveLevel={level}", "-k", "PatientID"]
    for key in keys:
        args += ["-k", key]
    answers = _findscu(dcmtk, loaded_server, tmp_path / "out", args, root=root)
    assert sorted(str(a.get("PatientID", "J1")) for a in answers) == expected
    assert all(a.QueryRetrieveLevel == level for a in answers)


def test_findscu_study_answer_values(
    loaded_server: tuple[str, int], dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    args: list[str] = ["-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=J1"]
    for key in ("PatientName", "StudyInstanceUID", "ModalitiesInStudy", "StudyDate"):
        args += ["-k", key]
    args += ["-k", "NumberOfStudyRelatedInstances", "-k", "NumberOfStudyRelatedSeries"]
    [answer] = _findscu(dcmtk, loaded_server, tmp_path / "out", args)
    assert answer.StudyInstanceUID == J1_STUDY
    assert answer.StudyDate == "20240115"
    assert answer.ModalitiesInStudy == "CT"
    assert int(answer.NumberOfStudyRelatedInstances) == 2
    assert int(answer.NumberOfStudyRelatedSeries) == 1
    # The caller sent no Specific Character Set (ASCII): the kanji/kana groups are kept and
    # the answer says it is UTF-8.
    assert answer.SpecificCharacterSet == "ISO_IR 192"
    assert str(answer.PatientName) == JAPANESE_NAME


def test_findscu_japanese_key_in_utf8(
    loaded_server: tuple[str, int], dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    args: list[str] = ["-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID"]
    args += ["-k", "(0008,0005)=ISO_IR 192", "-k", "PatientName=山田*"]
    [answer] = _findscu(dcmtk, loaded_server, tmp_path / "out", args)
    assert answer.SpecificCharacterSet == "ISO_IR 192"
    assert answer.PatientID == "J1"
    assert str(answer.PatientName) == JAPANESE_NAME


@pytest.mark.parametrize(
    ("charset", "name"),
    [
        (["", "ISO 2022 IR 87"], "山田*"),
        (["", "ISO 2022 IR 87"], "やまだ^たろう"),
        (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎"),
        # JIS X 0201 (half-width katakana, romaji) + JIS X 0208, as Japanese modalities send.
        (["ISO 2022 IR 13", "ISO 2022 IR 87"], "山田*"),
    ],
)
def test_findscu_japanese_key_in_iso2022(
    loaded_server: tuple[str, int],
    dcmtk: Callable[[str], str],
    tmp_path: Path,
    charset: list[str],
    name: str,
) -> None:
    """The query is a file encoded by pydicom in ISO 2022 (JIS X 0208 behind escape
    sequences); the answer comes back in the same character set, since it can hold the name."""
    query = Dataset()
    query.SpecificCharacterSet = charset
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = ""
    query.PatientName = name
    query_file = tmp_path / "query.dcm"
    query.save_as(query_file, implicit_vr=False, little_endian=True)
    assert b"\x1b$B" in query_file.read_bytes()  # really JIS-encoded on the wire
    answers = _findscu(dcmtk, loaded_server, tmp_path / "out", [], query_file=query_file)
    [answer] = answers
    assert answer.SpecificCharacterSet == charset
    assert answer.PatientID == "J1"
    assert str(answer.PatientName) == JAPANESE_NAME
    raw = (tmp_path / "out" / "rsp0001.dcm").read_bytes()
    assert b"\x1b$B" in raw and "山田".encode() not in raw


def _pynetdicom_find(
    server: tuple[str, int],
    identifier: Dataset,
    model: str = StudyRootQueryRetrieveInformationModelFind,
) -> tuple[list[Dataset], Dataset]:
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(model)
    assoc = ae.associate(*server, ae_title="RADDX")
    assert assoc.is_established
    answers: list[Dataset] = []
    final = Dataset()
    try:
        for status, answer in assoc.send_c_find(identifier, model):
            if status.Status in (0xFF00, 0xFF01):
                answers.append(answer)
            else:
                final = status
    finally:
        assoc.release()
    return answers, final


def test_pynetdicom_latin1_caller_gets_utf8_with_all_name_groups(
    loaded_server: tuple[str, int],
) -> None:
    identifier = Dataset()
    identifier.SpecificCharacterSet = "ISO_IR 100"
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientName = "YAMADA*"
    identifier.PatientID = ""
    answers, final = _pynetdicom_find(loaded_server, identifier)
    assert final.Status == 0x0000
    [answer] = answers
    assert answer.SpecificCharacterSet == "ISO_IR 192"  # Latin-1 cannot hold 山田 or やまだ
    name = answer.PatientName
    assert (name.alphabetic, name.ideographic, name.phonetic) == (
        "Yamada^Tarou",
        "山田^太郎",
        "やまだ^たろう",
    )


def test_pynetdicom_latin1_caller_answered_in_latin1(loaded_server: tuple[str, int]) -> None:
    identifier = Dataset()
    identifier.SpecificCharacterSet = "ISO_IR 100"
    identifier.QueryRetrieveLevel = "PATIENT"
    identifier.PatientName = "doe^john"
    answers, final = _pynetdicom_find(
        loaded_server, identifier, PatientRootQueryRetrieveInformationModelFind
    )
    assert final.Status == 0x0000
    [answer] = answers
    assert answer.SpecificCharacterSet == "ISO_IR 100"
    assert answer.PatientName == "Doe^John"
    assert answer.PatientID == "D1"


@pytest.mark.parametrize(
    ("keys", "comment"),
    [
        ({"QueryRetrieveLevel": "WORKLIST"}, "QueryRetrieveLevel 'WORKLIST'"),
        ({"QueryRetrieveLevel": "STUDY", "StudyDate": "20240101-2023"}, "malformed range"),
        ({"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": "1.2.*"}, "wildcards"),
        ({"QueryRetrieveLevel": "STUDY", "SOPInstanceUID": ""}, "IMAGE-level key"),
        ({"QueryRetrieveLevel": "STUDY", "SpecificCharacterSet": "ISO_IR 999"}, "ISO_IR 999"),
        ({"PatientID": "J1"}, "QueryRetrieveLevel"),
    ],
)
@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # deliberately invalid
@pytest.mark.filterwarnings("ignore:Unknown encoding:UserWarning")
def test_bad_identifiers_get_a900_with_a_comment(
    loaded_server: tuple[str, int], keys: dict[str, str], comment: str
) -> None:
    identifier = Dataset()
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    answers, final = _pynetdicom_find(loaded_server, identifier)
    assert answers == []
    assert final.Status == 0xA900
    assert comment in final.ErrorComment


def test_more_matches_than_the_maximum_end_with_a700(archive: _Archive) -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.SOPInstanceUID = ""
    answers, final = _pynetdicom_find(
        archive.small_limit_server, identifier, PatientRootQueryRetrieveInformationModelFind
    )
    assert len(answers) == 2
    assert final.Status == 0xA700
    assert "more than 2 matches" in final.ErrorComment
