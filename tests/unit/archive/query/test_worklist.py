"""Modality Worklist matching (raddx.archive.query.worklist) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from raddx.archive.query.worklist import WorklistQuery, find_worklist
from raddx.db import make_engine, upgrade
from raddx.errors import InvalidInput
from raddx.ris import (
    OrderCreate,
    OrderStatusValues,
    PatientData,
    ProcedureCreate,
    change_order_status,
    find_order,
    place_order,
)

JJ = "6000000200020000" + "2800000000000000"


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as s, s.begin():
        _orders(s)
        yield s
    engine.dispose()


def _orders(s: Session) -> None:
    rows = [
        ("P1", "Yamada^Taro=山田^太郎=ヤマダ^タロウ", "CT", "CT01", "20261126", "ORD1", JJ),
        ("P2", "Suzuki^Hanako=鈴木^花子=スズキ^ハナコ", "MR", "MR01", "20261127", "ORD2", None),
        ("P3", "Sato^Jiro=佐藤^次郎=サトウ^ジロウ", "CT", "CT02", "20261130", "ORD3", None),
    ]
    for pid, name, modality, aet, date, placer, code in rows:
        procedure = ProcedureCreate(
            modality=modality,
            scheduled_start_date=date,
            scheduled_start_time="0930",
            scheduled_station_ae_title=aet,
            jj1017_code=code,
            description="胸部CT" if code else None,
        )
        place_order(
            OrderCreate(
                patient=PatientData(pid, "HOSP", name),
                procedures=(procedure,),
                placer_order_number=placer,
            ),
            session=s,
        )


def _ids(session: Session, keys: dict[str, Any]) -> list[str]:
    keys = {"PatientID": None, **keys}
    return [a["PatientID"] for a in find_worklist(WorklistQuery(keys), session=session)]


def _sps(**item: str) -> dict[str, Any]:
    return {"ScheduledProcedureStepSequence": [item]}


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (_sps(Modality="CT"), ["P1", "P3"]),
        (_sps(ScheduledStationAETitle="MR01"), ["P2"]),
        (_sps(ScheduledStationAETitle="CT*"), ["P1", "P3"]),
        (_sps(ScheduledProcedureStepStartDate="20261126-20261127"), ["P1", "P2"]),
        (_sps(ScheduledProcedureStepStartDate="20261128-"), ["P3"]),
        (_sps(Modality="CT", ScheduledProcedureStepStartDate="-20261127"), ["P1"]),
        ({"PatientName": "山田*"}, ["P1"]),  # ideographic group
        ({"PatientName": "スズキ^ハナコ"}, ["P2"]),  # phonetic group
        ({"PatientName": "sato*"}, ["P3"]),  # alphabetic, case-insensitive
        ({"PatientName": "=佐藤^次郎"}, ["P3"]),  # only the ideographic group given
        ({"AccessionNumber": "RX*"}, ["P1", "P2", "P3"]),
    ],
)
def test_matching(session: Session, keys: dict[str, Any], expected: list[str]) -> None:
    assert _ids(session, keys) == expected


def test_answer_carries_the_step_and_both_jj1017_halves(session: Session) -> None:
    keys = {
        "PatientName": "山田*",
        "StudyInstanceUID": None,
        "ScheduledProcedureStepSequence": [
            {"Modality": None, "ScheduledProtocolCodeSequence": None, "ScheduledStationName": None}
        ],
    }
    (answer,) = find_worklist(WorklistQuery(keys), session=session)
    assert answer["PatientName"] == "Yamada^Taro=山田^太郎=ヤマダ^タロウ"
    assert answer["StudyInstanceUID"].startswith("2.25.")
    (step,) = answer["ScheduledProcedureStepSequence"]
    assert step["Modality"] == "CT"
    assert step["ScheduledStationName"] is None
    (code,) = step["ScheduledProtocolCodeSequence"]
    assert (code["CodeValue"], code["CodingSchemeDesignator"]) == (JJ[:16], "JJ1017-16M")
    (context,) = code["ProtocolContextSequence"]
    assert context["ConceptNameCodeSequence"][0]["CodeValue"] == "123016"
    conditions = context["ConceptCodeSequence"][0]
    assert (conditions["CodeValue"], conditions["CodingSchemeDesignator"]) == (
        JJ[16:],
        "JJ1017-16S",
    )


def test_cancelled_orders_leave_the_worklist(session: Session) -> None:
    order = find_order(placer_order_number="ORD2", session=session)
    change_order_status(order, OrderStatusValues.CANCELLED, session=session)
    assert _ids(session, {}) == ["P1", "P3"]
    assert _ids(session, _sps(ScheduledProcedureStepStatus="CANCELED")) == ["P2"]


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        (_sps(ScheduledProcedureStepStartDate="2026-11-26"), "malformed range"),
        ({"ScheduledProcedureStepSequence": [{}, {}]}, "exactly one item"),
        ({"NotAKeyword": "x"}, "not a DICOM keyword"),
    ],
)
def test_bad_keys_are_refused(keys: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        WorklistQuery(keys)
