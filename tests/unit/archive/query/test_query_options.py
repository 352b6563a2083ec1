"""Query options on SQLite and PostgreSQL: fuzzy semantic matching of person names
(PS3.4 C.2.2.2.1.1), DT ranges compared as instants, and a query timezone (C.2.2.2.5).

Names are stored in ISO_IR 192 and ISO 2022 IR 87, with kana in the phonetic group, old kanji
forms and romaji in several spellings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from pydicom.dataset import Dataset
from sqlalchemy import text

from dicom_factory import make_dataset, to_part10
from postgres_fixture import _database, _server_url
from raddx.archive.query import Query, find
from raddx.config import load_settings
from raddx.errors import InvalidInput
from raddx.services import Services

JAPANESE = ["ISO 2022 IR 6", "ISO 2022 IR 87"]


def _load(services: Services) -> None:
    def store(ds: Dataset, **attributes: Any) -> None:
        for keyword, value in attributes.items():
            setattr(ds, keyword, value)
        services.ingest.store(to_part10(ds), source="test")

    store(
        make_dataset(
            patient_id="F1", patient_name="Satou^Tarou=佐藤^太郎=さとう^たろう", charset=JAPANESE
        )
    )
    store(make_dataset(patient_id="F2", patient_name="Satoh^Hanako"))
    store(
        make_dataset(
            patient_id="F3", patient_name="=髙橋^一郎=タカハシ^イチロウ", charset="ISO_IR 192"
        )
    )
    store(make_dataset(patient_id="F4", patient_name="SATO^JIRO"))
    store(make_dataset(patient_id="F5", patient_name="Kato^Taro"))
    # T1 was made in Japan and says so; T2 says nothing (taken as UTC) but its DT has an offset.
    store(
        make_dataset(patient_id="T1"),
        StudyDate="20240101",
        StudyTime="080000",
        TimezoneOffsetFromUTC="+0900",
        AcquisitionDateTime="20240101080000",
    )
    store(
        make_dataset(patient_id="T2"),
        StudyDate="20240101",
        StudyTime="100000",
        AcquisitionDateTime="20240101100000+0100",
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def index(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    tmp = tmp_path_factory.mktemp("options")
    if request.param == "postgres":
        database: Any = _database(_server_url(tmp_path_factory), "raddx_query_options")
    else:
        database = contextlib.nullcontext(f"sqlite:///{tmp / 'index.sqlite'}")
    with database as url:
        services = Services.from_settings(load_settings(data_dir=tmp / "data", database_url=url))
        _load(services)
        yield services
        services.close()


def _patients(services: Services, level: str, keys: dict[str, Any], **options: Any) -> list[str]:
    query = Query(level, "STUDY_ROOT", {"PatientID": None, **keys}, **options)
    with services.session_factory() as session:
        return sorted(a["PatientID"] for a in find(query, session=session))


@pytest.mark.parametrize(
    ("name", "fuzzy", "expected"),
    [
        # hiragana query: the phonetic group by kana, the romaji groups by their reading
        ("さとう*", True, ["F1", "F2", "F4"]),
        ("さとう*", False, ["F1"]),
        ("サトー^タロー", True, ["F1"]),  # katakana with long vowel marks
        ("ｻﾄｳ*", True, ["F1", "F2", "F4"]),  # half-width katakana
        ("Satō^Tarō", True, ["F1"]),  # macrons
        ("Satō^Tarō", False, []),
        ("SATOH*", True, ["F1", "F2", "F4"]),
        ("高橋^一郎", True, ["F3"]),  # stored as 髙橋 (the registry form)
        ("高橋^一郎", False, []),
        ("たかはし*", True, ["F3"]),  # stored in katakana
        ("Takahashi^Ichirou", True, ["F3"]),  # romaji against a kana-only name
        ("Kato*", True, ["F5"]),  # fuzzy, not everything: Kato is not Sato
        ("*", True, ["F1", "F2", "F3", "F4", "F5", "T1", "T2"]),
    ],
)
def test_fuzzy_person_name_matching(
    index: Services, name: str, fuzzy: bool, expected: list[str]
) -> None:
    assert _patients(index, "STUDY", {"PatientName": name}, fuzzy=fuzzy) == expected


@pytest.mark.parametrize(
    ("study_date", "timezone", "expected"),
    [
        ("20240101", None, ["T1", "T2"]),  # no timezone: the dates as the studies wrote them
        # T1 is 2023-12-31 23:00 UTC, T2 2024-01-01 10:00 UTC
        ("20240101", "+0000", ["T2"]),
        ("20231231", "+0000", ["T1"]),
        ("20240101", "+0900", ["T1", "T2"]),
        ("20231231", "-0500", ["T1"]),
        ("20231230-20231231", "+0000", ["T1"]),
        ("20240101-20240102", "+0000", ["T2"]),
        ("-20231231", "+0000", ["T1"]),
    ],
)
def test_study_date_in_the_query_timezone(
    index: Services, study_date: str, timezone: str | None, expected: list[str]
) -> None:
    keys = {"StudyDate": study_date}
    assert _patients(index, "STUDY", keys, timezone_offset_from_utc=timezone) == expected


@pytest.mark.parametrize(
    ("value", "timezone", "expected"),
    [
        # T1 acquired 2023-12-31 23:00 UTC (its TimezoneOffsetFromUTC), T2 2024-01-01 09:00 UTC
        ("20231231230000+0000", None, ["T1"]),
        ("20240101080000+0900", None, ["T1"]),
        ("20240101100000+0100", None, ["T2"]),
        ("20240101080000-20240101095959", None, ["T2"]),  # no offset anywhere: as UTC
        ("20240101080000-20240101095959", "+0900", ["T1"]),  # the query's timezone
        ("20240101090000+0100-", None, ["T2"]),
        ("-2023", None, ["T1"]),  # a bound as precise as written
        ("20231231-20240101", None, ["T1", "T2"]),
    ],
)
def test_date_time_ranges_compare_instants(
    index: Services, value: str, timezone: str | None, expected: list[str]
) -> None:
    keys = {"AcquisitionDateTime": value}
    assert _patients(index, "IMAGE", keys, timezone_offset_from_utc=timezone) == expected


def test_fuzzy_lookup_uses_the_fuzzy_index(index: Services) -> None:
    from raddx.archive.query.service import _return_attributes, _statement

    query = Query("STUDY", "STUDY_ROOT", {"PatientName": "SATO*"}, fuzzy=True)
    stmt = _statement(query, _return_attributes(query))
    with index.engine.connect() as conn:
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))
            plan = " | ".join(row[0] for row in conn.execute(text(f"EXPLAIN {sql}")))
        else:
            plan = " | ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        conn.rollback()
    assert "ix_patient_patient_name_alphabetic_fuzzy" in plan, plan


@pytest.mark.parametrize(
    ("level", "model", "keys", "expected"),
    [
        # Patients with a study of that date; with an image of that instant in that study.
        ("PATIENT", "PATIENT_ROOT", {"StudyDate": "20240101"}, ["T1", "T2"]),
        (
            "PATIENT",
            "PATIENT_ROOT",
            {"StudyDate": "20240101", "AcquisitionDateTime": "20231231230000+0000"},
            ["T1"],
        ),
        ("STUDY", "STUDY_ROOT", {"AcquisitionDateTime": "20240101100000+0100"}, ["T2"]),
        ("STUDY", "STUDY_ROOT", {"Modality": "MR"}, []),
        ("SERIES", "STUDY_ROOT", {"AcquisitionDateTime": "-2023"}, ["T1"]),
        # A universal key below the level matches everything and is returned empty.
        ("STUDY", "STUDY_ROOT", {"Modality": None, "PatientID": "F1"}, ["F1"]),
    ],
)
def test_relational_keys_below_the_query_level(
    index: Services, level: str, model: str, keys: dict[str, Any], expected: list[str]
) -> None:
    query = Query(level, model, {"PatientID": None, **keys}, relational=True)
    with index.session_factory() as session:
        answers = list(find(query, session=session))
    assert sorted(a["PatientID"] for a in answers) == expected
    assert query.below_keywords  # every row has a key below its level…
    assert all(a[k] is None for a in answers for k in query.below_keywords)  # …returned empty


def test_relational_is_needed_for_keys_below_the_level() -> None:
    with pytest.raises(InvalidInput, match="without relational queries"):
        Query("STUDY", "STUDY_ROOT", {"Modality": "CT"})
    with pytest.raises(InvalidInput, match="STUDY-level key"):  # sequences: never relational
        Query("PATIENT", "PATIENT_ROOT", {"RequestAttributesSequence": None}, relational=True)


@pytest.mark.parametrize(
    ("keys", "options", "expected"),
    [
        # T1 2024-01-01 08:00 (+0900), T2 2024-01-01 10:00 (no offset), F* 2026-11-25 10:10:10
        ({"StudyDate": "20231231-20240101", "StudyTime": "0900-"}, {}, ["T2"]),  # separate
        (
            {"StudyDate": "20231231-20240101", "StudyTime": "0900-"},
            {"combined_date_time": True},
            ["T1", "T2"],  # from 2023-12-31 09:00 to the end of 2024-01-01
        ),
        (
            {"StudyDate": "20240101-20240102", "StudyTime": "0900-0800"},
            {"combined_date_time": True},
            ["T2"],  # 1 Jan 09:00 to 2 Jan 08:59: a time range "backwards" is fine combined
        ),
        ({"StudyDate": "20240101", "StudyTime": "0830-0930"}, {"combined_date_time": True}, []),
        (
            {"StudyDate": "20231231-20240101", "StudyTime": "2300-0059"},
            {"combined_date_time": True, "timezone_offset_from_utc": "+0000"},
            ["T1"],  # T1 is 2023-12-31 23:00 UTC
        ),
        # StudyTime alternatives: not combined, StudyDate still in the query timezone.
        (
            {"StudyDate": "20231231", "StudyTime": "080000\\100000"},
            {"combined_date_time": True, "timezone_offset_from_utc": "+0000"},
            ["T1"],
        ),
    ],
)
def test_combined_date_time_matching(
    index: Services, keys: dict[str, str], options: dict[str, Any], expected: list[str]
) -> None:
    assert _patients(index, "STUDY", keys, **options) == expected


def test_combined_range_must_not_end_before_it_starts() -> None:
    keys = {"StudyDate": "20240101", "StudyTime": "1200-1000"}
    with pytest.raises(InvalidInput, match="ends before it starts"):
        Query("STUDY", "STUDY_ROOT", keys, combined_date_time=True)
    keys = {"StudyDate": "20240102-20240101", "StudyTime": "1000"}
    with pytest.raises(InvalidInput, match="lower bound is after"):
        Query("STUDY", "STUDY_ROOT", keys, combined_date_time=True)


@pytest.mark.parametrize(
    ("time", "floor", "ceiling"),
    [
        ("12", "120000", "125959.999999"),
        ("1230", "123000", "123059.999999"),
        ("123015", "123015", "123015.999999"),
        ("123015.5", "123015.5", "123015.599999"),
        (None, "000000", "235959.999999"),
    ],
)
def test_combined_time_bounds_cover_their_precision(
    time: str | None, floor: str, ceiling: str
) -> None:
    from raddx.archive.query.combined import _time_ceiling, _time_floor

    assert (_time_floor(time), _time_ceiling(time)) == (floor, ceiling)
