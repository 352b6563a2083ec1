"""PS3.4 C.2.2.2 matching rules, each VR family and charset, on SQLite and PostgreSQL.

One small index is loaded per backend (module scope) and every row of the tables below runs a
query against it. Names come as UTF-8 (ISO_IR 192), Latin-1 (ISO_IR 100) and ISO 2022 IR 87 /
IR 13 (pydicom's chrH31.dcm / chrH32.dcm), so PN matching is checked on what ingest decoded
from each character set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.data import get_charset_files
from pydicom.uid import generate_uid
from sqlalchemy import text

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from postgres_fixture import _database, _server_url
from raddx.archive.query import Query, find
from raddx.archive.query.attributes import ATTRIBUTES
from raddx.archive.query.matching import Range, SingleValue, parse_key
from raddx.config import load_settings
from raddx.errors import InvalidInput
from raddx.services import Services

J1_STUDY = generate_uid()
J1_CT_SERIES = generate_uid()
J1_MR_SERIES = generate_uid()
D1_STUDY = generate_uid()
D2_STUDY = generate_uid()


def _load(services: Services) -> None:
    def store(ds: pydicom.Dataset, **attributes: Any) -> None:
        for keyword, value in attributes.items():
            setattr(ds, keyword, value)
        services.ingest.store(to_part10(ds), source="test")

    # J1: all three PN groups in UTF-8; one study, a CT series of two images and an MR series.
    japanese: dict[str, Any] = dict(
        patient_id="J1",
        patient_name=JAPANESE_NAME,
        charset="ISO_IR 192",
        accession="ACC-J1",
        study_uid=J1_STUDY,
    )
    for number in (1, 2):
        ds = make_dataset(**japanese, series_uid=J1_CT_SERIES, modality="CT")
        store(ds, StudyDate="20240115", StudyTime="093000", InstanceNumber=number)
    ds = make_dataset(**japanese, series_uid=J1_MR_SERIES, modality="MR")
    store(ds, StudyDate="20240115", StudyTime="093000")
    # H31EXAMPLE (ISO 2022 IR 87) and H32EXAMPLE (ISO 2022 IR 13 + 87, half-width katakana).
    for name in ("chrH31.dcm", "chrH32.dcm"):
        services.ingest.store(Path(get_charset_files(name)[0]).read_bytes(), source="test")
    store(
        make_dataset(
            patient_id="D1",
            patient_name="Doe^John",
            accession="ACC_1%",
            modality="MR",
            study_uid=D1_STUDY,
            study_description="head mri",
        ),
        StudyDate="20231231",
    )
    store(
        make_dataset(
            patient_id="D2",
            patient_name="doe^jane",
            accession="ACC002",
            modality="US",
            birth_date="19800101",
            study_uid=D2_STUDY,
        ),
        StudyDate="20240301",
        StudyTime="101530.5",
    )
    store(
        make_dataset(
            patient_id="D3",
            patient_name="Müller^Jürgen",
            charset="ISO_IR 100",
            accession="A!B[1]",
            modality="CT",
        ),
        StudyDate="20250505",
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def index(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    """The loaded index, once per backend (loading per row would dominate the run time)."""
    tmp = tmp_path_factory.mktemp("query")
    with _pg_or_sqlite(request.param, tmp, tmp_path_factory) as url:
        services = Services.from_settings(load_settings(data_dir=tmp / "data", database_url=url))
        _load(services)
        yield services
        services.close()


def _pg_or_sqlite(kind: str, tmp: Path, factory: pytest.TempPathFactory) -> Any:
    if kind == "postgres":
        return _database(_server_url(factory), "raddx_query")
    import contextlib

    return contextlib.nullcontext(f"sqlite:///{tmp / 'index.sqlite'}")


def _run(services: Services, query: Query) -> list[dict[str, Any]]:
    with services.session_factory() as session:
        return list(find(query, session=session))


def _patients(services: Services, keys: dict[str, str | None], **options: Any) -> list[str]:
    query = Query("STUDY", "STUDY_ROOT", {"PatientID": None, **keys}, **options)
    return sorted(answer["PatientID"] for answer in _run(services, query))


ALL = ["D1", "D2", "D3", "H31EXAMPLE", "H32EXAMPLE", "J1"]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        # Universal matching (C.2.2.2.3): empty value and a lone "*".
        ({"PatientName": None}, ALL),
        ({"PatientName": "*"}, ALL),
        # PN: any of the three groups, case-insensitive (issue 4).
        ({"PatientName": "山田*"}, ["H31EXAMPLE", "H32EXAMPLE", "J1"]),
        ({"PatientName": "Yamada*"}, ["H31EXAMPLE", "J1"]),  # H32's alphabetic group is kana
        ({"PatientName": "やまだ*"}, ["H31EXAMPLE", "H32EXAMPLE", "J1"]),
        ({"PatientName": "YAMADA^TAROU"}, ["H31EXAMPLE", "J1"]),
        ({"PatientName": "yamada^tarou"}, ["H31EXAMPLE", "J1"]),
        ({"PatientName": "Yamada^Tarou^^"}, ["H31EXAMPLE", "J1"]),  # trailing empty components
        ({"PatientName": "ヤマダ*"}, ["H32EXAMPLE"]),  # NFKC: half-width ﾔﾏﾀﾞ stored in IR 13
        ({"PatientName": "山田^太郎"}, ["H31EXAMPLE", "H32EXAMPLE", "J1"]),
        ({"PatientName": "Yamada^Tarou=山田^太郎"}, ["H31EXAMPLE", "J1"]),  # groups by position
        ({"PatientName": "=山田^太郎"}, ["H31EXAMPLE", "H32EXAMPLE", "J1"]),
        ({"PatientName": "==やまだ*"}, ["H31EXAMPLE", "H32EXAMPLE", "J1"]),
        ({"PatientName": "=やまだ*"}, []),  # kana is not in the ideographic group
        ({"PatientName": "Yamada"}, []),  # single value is not a prefix match
        ({"PatientName": "doe^*"}, ["D1", "D2"]),
        ({"PatientName": "*^J?N*"}, ["D2"]),  # JANE, not JOHN
        ({"PatientName": "müller^jürgen"}, ["D3"]),  # Latin-1 upper-casing
        ({"PatientName": "MÜLL*"}, ["D3"]),
        # Text (LO/SH/CS): case-sensitive single value and wildcard.
        ({"PatientID": "D1"}, ["D1"]),
        ({"PatientID": "D*"}, ["D1", "D2", "D3"]),
        ({"PatientID": "d*"}, []),  # case-sensitive outside PN (SQLite's LIKE would ignore it)
        ({"PatientID": "D?"}, ["D1", "D2", "D3"]),
        ({"PatientID": "?"}, []),
        ({"PatientID": "D1\\D2"}, ["D1", "D2"]),  # multiple values are alternatives
        ({"AccessionNumber": "ACC_1%"}, ["D1"]),
        ({"AccessionNumber": "ACC_*"}, ["D1"]),  # "_" is literal, not LIKE's any-character
        ({"AccessionNumber": "A!B[*"}, ["D3"]),  # our LIKE escape char and GLOB's "["
        ({"StudyDescription": "*mri"}, ["D1"]),
        ({"StudyDescription": "*MRI"}, []),
        # DA: single value, closed, open and multiple ranges (C.2.2.2.5).
        ({"StudyDate": "20240115"}, ["J1"]),
        ({"StudyDate": "20240101-20240331"}, ["D2", "J1"]),
        ({"StudyDate": "-20231231"}, ["D1"]),
        ({"StudyDate": "20240201-"}, ["D2", "D3"]),
        ({"StudyDate": "20240115-20240115"}, ["J1"]),
        ({"StudyDate": "20240115\\20231231"}, ["D1", "J1"]),
        ({"PatientBirthDate": "19800101"}, ["D2"]),
        # TM: bounds of lower precision cover the values within them.
        ({"StudyTime": "0930-1000"}, ["J1"]),
        ({"StudyTime": "1015-1015"}, ["D2"]),
        ({"StudyTime": "-0929"}, []),
        # A single TM value is a time, whatever its precision: 0930 is 09:30:00.
        ({"StudyTime": "0930"}, ["J1"]),
        ({"StudyTime": "093000"}, ["J1"]),
        ({"StudyTime": "101530.5"}, ["D2"]),
        ({"StudyTime": "10:10-"}, ["D1", "D2", "D3"]),  # ACR-NEMA colons tolerated
        # UID: single value and list of UIDs (C.2.2.2.2).
        ({"StudyInstanceUID": J1_STUDY}, ["J1"]),
        ({"StudyInstanceUID": f"{D1_STUDY}\\{D2_STUDY}"}, ["D1", "D2"]),
        ({"StudyInstanceUID": "1.2.3"}, []),
        # ModalitiesInStudy: a study matches when any series does.
        ({"ModalitiesInStudy": "MR"}, ["D1", "J1"]),
        ({"ModalitiesInStudy": "CT\\US"}, ["D2", "D3", "J1"]),
        ({"ModalitiesInStudy": "M?"}, ["D1", "J1"]),
        # Computed count as a matching key.
        ({"NumberOfStudyRelatedInstances": "3"}, ["J1"]),
        # Several keys: all must match.
        ({"PatientName": "*", "StudyDate": "20240101-", "ModalitiesInStudy": "MR"}, ["J1"]),
        ({"PatientName": "山田*", "StudyDate": "20240101-"}, ["J1"]),
    ],
)
def test_study_level_matching(index: Services, keys: dict[str, str], expected: list[str]) -> None:
    assert _patients(index, keys) == expected


def test_case_sensitive_person_names_on_request(index: Services) -> None:
    assert _patients(index, {"PatientName": "yamada*"}, case_insensitive_pn=False) == []
    assert _patients(index, {"PatientName": "Yamada*"}, case_insensitive_pn=False) == [
        "H31EXAMPLE",
        "J1",
    ]


def test_study_answer_has_verbatim_names_and_computed_keys(index: Services) -> None:
    keys: dict[str, str | None] = {
        "StudyInstanceUID": J1_STUDY,
        "PatientName": None,
        "PatientID": None,
        "StudyDate": None,
        "StudyTime": None,
        "ModalitiesInStudy": None,
        "NumberOfStudyRelatedSeries": None,
        "NumberOfStudyRelatedInstances": None,
        "NumberOfPatientRelatedStudies": None,
        "RetrieveAETitle": None,  # not in the index: returned empty
    }
    [answer] = _run(index, Query("STUDY", "STUDY_ROOT", keys))
    assert answer == {
        "QueryRetrieveLevel": "STUDY",
        "StudyInstanceUID": J1_STUDY,
        "PatientName": JAPANESE_NAME,
        "PatientID": "J1",
        "StudyDate": "20240115",
        "StudyTime": "093000",
        "ModalitiesInStudy": ["CT", "MR"],
        "NumberOfStudyRelatedSeries": 2,
        "NumberOfStudyRelatedInstances": 3,
        "NumberOfPatientRelatedStudies": 1,
        "RetrieveAETitle": None,
    }


def test_patient_level_in_patient_root(index: Services) -> None:
    keys: dict[str, str | None] = {
        "PatientName": "山田*",
        "NumberOfPatientRelatedStudies": None,
        "NumberOfPatientRelatedSeries": None,
        "NumberOfPatientRelatedInstances": None,
    }
    answers = _run(index, Query("PATIENT", "PATIENT_ROOT", keys))
    by_id = {a["PatientID"]: a for a in answers}
    assert sorted(by_id) == ["H31EXAMPLE", "H32EXAMPLE", "J1"]
    assert by_id["J1"]["NumberOfPatientRelatedStudies"] == 1
    assert by_id["J1"]["NumberOfPatientRelatedSeries"] == 2
    assert by_id["J1"]["NumberOfPatientRelatedInstances"] == 3
    assert by_id["H32EXAMPLE"]["PatientName"] == "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"StudyInstanceUID": J1_STUDY}, [J1_CT_SERIES, J1_MR_SERIES]),
        ({"StudyInstanceUID": J1_STUDY, "Modality": "CT"}, [J1_CT_SERIES]),
        ({"StudyInstanceUID": J1_STUDY, "Modality": "C*"}, [J1_CT_SERIES]),
        ({"StudyInstanceUID": J1_STUDY, "SeriesInstanceUID": J1_MR_SERIES}, [J1_MR_SERIES]),
        # Relational use of an upper-level key (accepted leniently).
        ({"PatientName": "YAMADA*", "Modality": "MR"}, [J1_MR_SERIES]),
    ],
)
def test_series_level(index: Services, keys: dict[str, str], expected: list[str]) -> None:
    query = Query("SERIES", "STUDY_ROOT", {**keys, "NumberOfSeriesRelatedInstances": None})
    answers = _run(index, query)
    assert sorted(a["SeriesInstanceUID"] for a in answers) == sorted(expected)
    assert all(a["StudyInstanceUID"] == J1_STUDY for a in answers)
    counts = {a["SeriesInstanceUID"]: a["NumberOfSeriesRelatedInstances"] for a in answers}
    assert counts.get(J1_CT_SERIES, 2) == 2


@pytest.mark.parametrize("model", ["STUDY_ROOT", "PATIENT_ROOT"])
def test_image_level(index: Services, model: str) -> None:
    keys = {"StudyInstanceUID": J1_STUDY, "SeriesInstanceUID": J1_CT_SERIES, "InstanceNumber": "2"}
    [answer] = _run(index, Query("IMAGE", model, {**keys, "SOPClassUID": None}))
    assert answer["InstanceNumber"] == 2
    assert answer["SOPClassUID"] == pydicom.uid.CTImageStorage
    assert ("PatientID" in answer) is (model == "PATIENT_ROOT")  # unique key of the levels above
    assert len(_run(index, Query("IMAGE", model, {**keys, "InstanceNumber": None}))) == 2


def test_limit_and_offset_page_in_index_order(index: Services) -> None:
    everything = _patients(index, {})
    pages = [
        [
            a["PatientID"]
            for a in _run(
                index, Query("STUDY", "STUDY_ROOT", {"PatientID": None}, limit=4, offset=o)
            )
        ]
        for o in (0, 4)
    ]
    assert sorted(pages[0] + pages[1]) == everything
    assert len(pages[0]) == 4


@pytest.mark.parametrize(
    ("level", "model", "keys", "options", "message"),
    [
        ("WORKLIST", "STUDY_ROOT", {}, {}, "QueryRetrieveLevel 'WORKLIST' is not one of"),
        ("STUDY", "MWL", {}, {}, "information model 'MWL' is not one of"),
        ("PATIENT", "STUDY_ROOT", {}, {}, "PATIENT does not exist in the Study Root"),
        ("STUDY", "STUDY_ROOT", {"SOPInstanceUID": None}, {}, "IMAGE-level key"),
        ("STUDY", "PATIENT_ROOT", {"Modality": "CT"}, {}, "SERIES-level key"),
        ("PATIENT", "PATIENT_ROOT", {"StudyDate": None}, {}, "STUDY-level key"),
        (
            "STUDY",
            "STUDY_ROOT",
            {"StudyDate": "20240101-2023"},
            {},
            "malformed range: .*not a date",
        ),
        ("STUDY", "STUDY_ROOT", {"StudyDate": "20240301-20240101"}, {}, "lower bound is after"),
        ("STUDY", "STUDY_ROOT", {"StudyDate": "2024-01-01"}, {}, "malformed range"),
        ("STUDY", "STUDY_ROOT", {"StudyDate": "2024*"}, {}, "wildcards are not allowed in DA"),
        ("STUDY", "STUDY_ROOT", {"StudyTime": "25:00"}, {}, "not a time"),
        ("STUDY", "STUDY_ROOT", {"StudyDate": "20241332"}, {}, "not a date"),
        ("STUDY", "STUDY_ROOT", {"StudyInstanceUID": "1.2.*"}, {}, "wildcards are not allowed"),
        ("STUDY", "STUDY_ROOT", {"StudyInstanceUID": "1.2.abc"}, {}, "not a UID"),
        ("STUDY", "STUDY_ROOT", {"StudyInstanceUID": "1.2\\"}, {}, "empty value"),
        ("STUDY", "STUDY_ROOT", {"NumberOfStudyRelatedInstances": "many"}, {}, "not an integer"),
        ("STUDY", "STUDY_ROOT", {"PatientName": "a=b=c=d"}, {}, "at most three"),
        ("STUDY", "STUDY_ROOT", {"NotAKeyword": None}, {}, "not a DICOM keyword"),
        ("STUDY", "STUDY_ROOT", {}, {"timezone_offset_from_utc": "0900"}, "not an offset"),
        ("STUDY", "STUDY_ROOT", {}, {"timezone_offset_from_utc": "+1500"}, "not an offset"),
        ("IMAGE", "STUDY_ROOT", {"AcquisitionDateTime": "20241301"}, {}, "out of range"),
        ("STUDY", "STUDY_ROOT", {"StudyDate": ["x"]}, {}, "not a sequence"),
        ("STUDY", "STUDY_ROOT", {"ProcedureCodeSequence": "x"}, {}, "sequence of one item"),
        ("STUDY", "STUDY_ROOT", {"ProcedureCodeSequence": [{}, {}]}, {}, "exactly one"),
        ("STUDY", "STUDY_ROOT", {"ProcedureCodeSequence": ["x"]}, {}, "must map"),
        ("STUDY", "STUDY_ROOT", {"ProcedureCodeSequence": [{"Nope": "1"}]}, {}, "not a DICOM"),
        (
            "PATIENT",
            "PATIENT_ROOT",
            {"RequestAttributesSequence": None},
            {},
            "STUDY-level key",
        ),
        ("STUDY", "STUDY_ROOT", {}, {"limit": 0}, "limit must be at least 1"),
        ("STUDY", "STUDY_ROOT", {}, {"offset": -1}, "offset must not be negative"),
        # Past 64 bits the database cannot bind it (found by schemathesis on /api).
        ("STUDY", "STUDY_ROOT", {}, {"offset": 2**63}, "at most"),
        ("STUDY", "STUDY_ROOT", {}, {"limit": 2**63}, "at most"),
    ],
)
def test_invalid_queries_cannot_be_built(
    level: str, model: str, keys: dict[str, str | None], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        Query(level, model, keys, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("keys", "index_name"),
    [
        # The study browser's sort indexes (0016) begin with the same columns and serve too.
        ({"PatientID": "J1"}, "ix_patient_(sort_)?patient_id"),
        # Prefix wildcards: GLOB on SQLite, the text_pattern_ops indexes (0002) on PostgreSQL.
        ({"PatientID": "J*"}, "ix_patient_(sort_)?patient_id"),
        ({"AccessionNumber": "ACC002"}, "ix_study_(sort_)?accession_number"),
        ({"AccessionNumber": "ACC*"}, "ix_study_(sort_)?accession_number"),
        ({"StudyDate": "20240101-20240331"}, "ix_study_(study_date|sort_date_time)"),
        # The unique constraint's index: uq_study_… on PostgreSQL, sqlite_autoindex_… on SQLite.
        ({"StudyInstanceUID": J1_STUDY}, "study_instance_uid"),
        ({"PatientName": "YAMADA*"}, "ix_patient_patient_name_alphabetic_norm"),
        ({"PatientName": "YAMADA^TAROU"}, "ix_patient_patient_name_alphabetic_norm"),
    ],
)
def test_key_lookups_use_indexes(index: Services, keys: dict[str, str], index_name: str) -> None:
    """Issue 4: no full scans for the common study-level lookups. PostgreSQL is told to avoid
    sequential scans where it can (the tables are tiny, so it would otherwise prefer them):
    a scan left in the plan means no index could serve the condition."""
    from raddx.archive.query.service import _return_attributes, _statement

    query = Query("STUDY", "STUDY_ROOT", {"PatientName": None, **keys})
    stmt = _statement(query, _return_attributes(query))
    with index.engine.connect() as conn:
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))
            plan = " | ".join(row[0] for row in conn.execute(text(f"EXPLAIN {sql}")))
            scans = ("Seq Scan on study", "Seq Scan on patient")
        else:
            plan = " | ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            scans = ("SCAN study", "SCAN patient")
        conn.rollback()
    assert re.search(index_name, plan), plan  # also matches the "<name>_pattern" indexes
    assert not any(scan in plan for scan in scans), plan


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20240101120000", SingleValue("20240101120000")),
        # An offset, not a range; a date without a time of day is not shifted.
        ("20240101-0500", SingleValue("20240101")),
        # Compared as instants: bounds with an offset go to UTC (PS3.4 C.2.2.2.5).
        ("20240101120000+0900", SingleValue("20240101030000")),
        ("20240101120000+0900-20240101130000-0100", Range("20240101030000", "20240101140000")),
        ("20240101120000-20240102", Range("20240101120000", "20240102")),
        ("-20240102", Range(None, "20240102")),
        ("2024010112-", Range("2024010112", None)),
    ],
)
def test_date_time_values(value: str, expected: object) -> None:
    match = parse_key(ATTRIBUTES["AcquisitionDateTime"], value)
    assert match.terms == (expected,)
