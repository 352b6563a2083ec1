"""Sequence matching (PS3.4 C.2.2.2.6) and sequence return keys, on SQLite and PostgreSQL.

ProcedureCodeSequence (study) and RequestAttributesSequence (series; matched at study level
through any series) are indexed at ingest; Japanese item values come in ISO 2022 IR 87.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from sqlalchemy import func, select, text

from dicom_factory import make_dataset, to_part10
from postgres_fixture import _database, _server_url
from raddx.archive.query import Query, find, matching_instances
from raddx.config import load_settings
from raddx.db.models import ProcedureCode, RequestAttributes
from raddx.services import Services

S1_STUDY, S1A_SERIES, S1B_SERIES = generate_uid(), generate_uid(), generate_uid()
JAPANESE = ["ISO 2022 IR 6", "ISO 2022 IR 87"]


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "JJ1017"
    item.CodeMeaning = meaning
    return item


def _request(procedure: str, step: str, accession: str) -> Dataset:
    item = Dataset()
    item.RequestedProcedureID = procedure
    item.ScheduledProcedureStepID = step
    item.AccessionNumber = accession
    return item


def _load(services: Services) -> None:
    def store(ds: Dataset) -> None:
        services.ingest.store(to_part10(ds), source="test")

    for number in (1, 2):  # the second instance repeats the items: indexed once
        ds = make_dataset(
            patient_id="P1", study_uid=S1_STUDY, series_uid=S1A_SERIES, charset=JAPANESE
        )
        ds.InstanceNumber = number
        ds.ProcedureCodeSequence = Sequence([_code("32000000", "胸部CT")])
        ds.RequestAttributesSequence = Sequence(
            [_request("RP1", "SPS1", "ACC1"), _request("RP2", "SPS2", "ACC1")]
        )
        store(ds)
    ds = make_dataset(patient_id="P1", study_uid=S1_STUDY, series_uid=S1B_SERIES, charset=JAPANESE)
    ds.RequestAttributesSequence = Sequence([_request("RP3", "SPS3", "ACC1")])
    store(ds)
    ds = make_dataset(patient_id="P2", charset=JAPANESE)
    ds.ProcedureCodeSequence = Sequence([_code("33000000", "頭部MRI")])
    ds.RequestAttributesSequence = Sequence([_request("RP9", "SPS9", "ACC2")])
    store(ds)
    store(make_dataset(patient_id="P3"))  # no sequences at all


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def index(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    tmp = tmp_path_factory.mktemp("sequences")
    if request.param == "postgres":
        database: Any = _database(_server_url(tmp_path_factory), "raddx_sequences")
    else:
        database = contextlib.nullcontext(f"sqlite:///{tmp / 'index.sqlite'}")
    with database as url:
        services = Services.from_settings(load_settings(data_dir=tmp / "data", database_url=url))
        _load(services)
        yield services
        services.close()


def _run(services: Services, query: Query) -> list[dict[str, Any]]:
    with services.session_factory() as session:
        return list(find(query, session=session))


def _study_patients(services: Services, keys: dict[str, Any]) -> list[str]:
    query = Query("STUDY", "STUDY_ROOT", {"PatientID": None, **keys})
    return sorted(a["PatientID"] for a in _run(services, query))


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"ProcedureCodeSequence": [{"CodeValue": "32000000"}]}, ["P1"]),
        ({"ProcedureCodeSequence": [{"CodeValue": "3*"}]}, ["P1", "P2"]),
        ({"ProcedureCodeSequence": [{"CodeMeaning": "胸部*"}]}, ["P1"]),
        # Every item key must match the same item.
        (
            {"ProcedureCodeSequence": [{"CodeValue": "32000000", "CodingSchemeDesignator": "99"}]},
            [],
        ),
        # Universal: no item, or an item without attributes, matches every study.
        ({"ProcedureCodeSequence": None}, ["P1", "P2", "P3"]),
        ({"ProcedureCodeSequence": []}, ["P1", "P2", "P3"]),
        ({"ProcedureCodeSequence": [{}]}, ["P1", "P2", "P3"]),
        ({"ProcedureCodeSequence": [{"CodeValue": None}]}, ["P1", "P2", "P3"]),
        # A series-level sequence at study level: any series of the study.
        ({"RequestAttributesSequence": [{"RequestedProcedureID": "RP3"}]}, ["P1"]),
        ({"RequestAttributesSequence": [{"AccessionNumber": "ACC2"}]}, ["P2"]),
        ({"RequestAttributesSequence": [{"ScheduledProcedureStepID": "SPS?"}]}, ["P1", "P2"]),
        ({"RequestAttributesSequence": [{"RequestedProcedureID": "RP1\\RP9"}]}, ["P1", "P2"]),
        # RP1 and SPS2 are both in the study, but not in one item.
        (
            {
                "RequestAttributesSequence": [
                    {"RequestedProcedureID": "RP1", "ScheduledProcedureStepID": "SPS2"}
                ]
            },
            [],
        ),
        # An item key the index does not keep is returned empty, not matched (C.2.2.1).
        ({"RequestAttributesSequence": [{"StudyInstanceUID": "1.2.3"}]}, ["P1", "P2", "P3"]),
        # Sequence and plain keys together.
        ({"ProcedureCodeSequence": [{"CodeValue": "3*"}], "PatientID": "P2"}, ["P2"]),
    ],
)
def test_study_level_sequence_matching(
    index: Services, keys: dict[str, Any], expected: list[str]
) -> None:
    assert _study_patients(index, keys) == expected


def test_series_level_matches_the_series_own_items(index: Services) -> None:
    keys = {
        "SeriesInstanceUID": None,
        "RequestAttributesSequence": [{"RequestedProcedureID": "RP3"}],
    }
    answers = _run(index, Query("SERIES", "STUDY_ROOT", {"StudyInstanceUID": S1_STUDY, **keys}))
    assert [a["SeriesInstanceUID"] for a in answers] == [S1B_SERIES]
    assert answers[0]["RequestAttributesSequence"] == [
        {"RequestedProcedureID": "RP3"},
    ]


def test_universal_sequence_key_returns_every_item_with_every_indexed_attribute(
    index: Services,
) -> None:
    query = Query("STUDY", "STUDY_ROOT", {"PatientID": None, "ProcedureCodeSequence": None})
    by_patient = {a["PatientID"]: a["ProcedureCodeSequence"] for a in _run(index, query)}
    assert by_patient == {
        "P1": [
            {
                "CodeValue": "32000000",
                "CodingSchemeDesignator": "JJ1017",
                "CodingSchemeVersion": None,
                "CodeMeaning": "胸部CT",
            }
        ],
        "P2": [
            {
                "CodeValue": "33000000",
                "CodingSchemeDesignator": "JJ1017",
                "CodingSchemeVersion": None,
                "CodeMeaning": "頭部MRI",
            }
        ],
        "P3": [],
    }


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        # Only the matching items, with only the requested attributes (C.2.2.2.6).
        (
            {"RequestedProcedureID": "RP*", "ScheduledProcedureStepID": None},
            [
                {"RequestedProcedureID": "RP1", "ScheduledProcedureStepID": "SPS1"},
                {"RequestedProcedureID": "RP2", "ScheduledProcedureStepID": "SPS2"},
                {"RequestedProcedureID": "RP3", "ScheduledProcedureStepID": "SPS3"},
            ],
        ),
        (
            {"RequestedProcedureID": "RP2", "AccessionNumber": None, "StudyInstanceUID": None},
            [{"RequestedProcedureID": "RP2", "AccessionNumber": "ACC1", "StudyInstanceUID": None}],
        ),
    ],
)
def test_matching_items_are_returned(
    index: Services, item: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    keys = {"PatientID": "P1", "RequestAttributesSequence": [item]}
    (answer,) = _run(index, Query("STUDY", "STUDY_ROOT", keys))
    assert answer["RequestAttributesSequence"] == expected


def test_items_repeated_by_instances_are_indexed_once(index: Services) -> None:
    with index.session_factory() as session:
        codes = session.scalar(select(func.count(ProcedureCode.id)))
        requests = session.scalar(select(func.count(RequestAttributes.id)))
    assert (codes, requests) == (2, 4)


def test_retrieve_by_sequence_key_takes_every_instance_of_the_study(index: Services) -> None:
    keys = {"RequestAttributesSequence": [{"RequestedProcedureID": "RP3"}]}
    with index.session_factory() as session:
        refs = matching_instances(Query("STUDY", "STUDY_ROOT", keys), session=session)
    assert len(refs) == 3  # both series of S1, though only S1B holds RP3


@pytest.mark.parametrize(
    ("keys", "index_name"),
    [
        (
            {"RequestAttributesSequence": [{"RequestedProcedureID": "RP1"}]},
            "ix_request_attributes_requested_procedure_id",
        ),
        (
            {"RequestAttributesSequence": [{"AccessionNumber": "ACC*"}]},
            "ix_request_attributes_accession_number",
        ),
        ({"ProcedureCodeSequence": [{"CodeValue": "32000000"}]}, "ix_procedure_code_code_value"),
    ],
)
def test_sequence_lookups_use_indexes(
    index: Services, keys: dict[str, Any], index_name: str
) -> None:
    from raddx.archive.query.service import _return_attributes, _statement

    query = Query("STUDY", "STUDY_ROOT", keys)
    stmt = _statement(query, _return_attributes(query))
    with index.engine.connect() as conn:
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))
            plan = " | ".join(row[0] for row in conn.execute(text(f"EXPLAIN {sql}")))
        else:
            plan = " | ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        conn.rollback()
    assert index_name in plan, plan
