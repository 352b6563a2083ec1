"""HL7 v2 handlers (raddx.hl7.handlers) on SQLite and PostgreSQL: orders, ADT, and every
refusal answered with the right MSA-1 and an ERR naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from hl7_samples import (
    CHEST_CT,
    CHEST_XR_LAT,
    CHEST_XR_PA,
    IR87,
    UTF8,
    adt,
    encode,
    msh,
    omg,
    omg_parent_children,
    pid,
)
from raddx.db import make_engine, make_session_factory, upgrade
from raddx.db.models import RisOrder, RisPatient, RisRequestedProcedure, RisScheduledStep
from raddx.hl7 import MessageHandler


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Any]]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _send(factory: sessionmaker[Any], message: str, charset: str = IR87) -> list[list[str]]:
    answer = MessageHandler(factory)(encode(message, charset))
    text = answer.decode("iso2022_jp" if charset == IR87 else "utf-8")
    return [s.split("|") for s in text.strip("\r").split("\r")]


def _seg(answer: list[list[str]], name: str) -> list[str]:
    return next(s for s in answer if s[0] == name)


def _refused(answer: list[list[str]], ack: str, location: str, code: str) -> str:
    assert _seg(answer, "MSA")[1] == ack
    err = _seg(answer, "ERR")
    assert err[2] == location, err
    assert err[3].startswith(code + "^"), err
    return err[8]


def test_omg_in_iso_2022_jp_is_stored_whole(factory: sessionmaker[Any]) -> None:
    answer = _send(factory, omg())
    header = _seg(answer, "MSH")
    assert header[8] == "ORG^O20^ORG_O20"
    assert header[17] == IR87  # answered in the request's character set
    assert _seg(answer, "MSA")[1:3] == ["AA", "MSG0001"]
    assert _seg(answer, "ORC")[1:3] == ["OK", "ORD0001"]
    with factory() as s:
        patient = s.scalars(select(RisPatient)).one()
        # Delimiter-colliding kanji (右 has '&', 施 has '\\') survive whole.
        assert patient.patient_name == "=右田^施=ミギタ^ホドコシ"
        order = s.scalars(select(RisOrder)).one()
        assert order.requesting_physician == "放射線^花子"
        assert order.requesting_service == "放射線科"
        assert order.reason_for_the_requested_procedure == "右肺結節の精査（施設紹介）"
        rp = s.scalars(select(RisRequestedProcedure)).one()
        assert (rp.jj1017_code, rp.requested_procedure_description) == (CHEST_CT, "胸部単純CT 右肺")
        step = s.scalars(select(RisScheduledStep)).one()
        assert step.modality == "CT"
        assert (
            step.scheduled_procedure_step_start_date,
            step.scheduled_procedure_step_start_time,
        ) == (
            "20261126",
            "093000",
        )


def test_utf8_message(factory: sessionmaker[Any]) -> None:
    answer = _send(factory, omg(charset=UTF8), UTF8)
    assert _seg(answer, "MSA")[1] == "AA"
    assert _seg(answer, "MSH")[17] == UTF8


def test_parent_and_children_are_one_order(factory: sessionmaker[Any]) -> None:
    answer = _send(factory, omg_parent_children())
    assert _seg(answer, "MSA")[1] == "AA"
    with factory() as s:
        order = s.scalars(select(RisOrder)).one()
        assert (order.placer_order_number, order.requested_procedure_priority) == (
            "ORD0002",
            "STAT",
        )
        codes = s.scalars(
            select(RisRequestedProcedure.jj1017_code).order_by(RisRequestedProcedure.id)
        )
        assert list(codes) == [CHEST_XR_PA, CHEST_XR_LAT]
        modalities = s.scalars(select(RisScheduledStep.modality)).all()
        assert modalities == ["CR", "CR"]  # from the JJ1017 modality digit


def test_cancel_and_status(factory: sessionmaker[Any]) -> None:
    _send(factory, omg())
    answer = _send(factory, omg(control="CA", control_id="MSG0009"))
    assert _seg(answer, "ORC")[5] == "CA"
    with factory() as s:
        assert s.scalars(select(RisOrder.status)).one() == "CANCELLED"
        assert (
            s.scalars(select(RisScheduledStep.scheduled_procedure_step_status)).one() == "CANCELED"
        )
    # Cancelled is final: a later new-order status is refused, naming ORC-1.
    again = _send(factory, omg(control="XO", control_id="MSG0010"))
    assert "no longer be changed" in _refused(again, "AE", "ORC^1^1", "207")


def test_order_update_moves_the_start(factory: sessionmaker[Any]) -> None:
    _send(factory, omg())
    answer = _send(factory, omg(control="XO", start="20261201140000"))
    assert _seg(answer, "MSA")[1] == "AA"
    with factory() as s:
        step = s.scalars(select(RisScheduledStep)).one()
        assert step.scheduled_procedure_step_start_date == "20261201"


def test_adt_create_update_and_merge(factory: sessionmaker[Any]) -> None:
    assert _seg(_send(factory, adt("A01", pid("P-OLD"))), "MSA")[1] == "AA"
    _send(factory, omg(pid_segment=pid("P-OLD")))
    renamed = pid("P-OLD", kanji="右田^施子^^^^^L^I")
    assert _seg(_send(factory, adt("A08", renamed)), "MSH")[8] == "ACK^A08^ACK"
    merge = _send(factory, adt("A40", pid("P-NEW"), mrg="P-OLD"))
    assert _seg(merge, "MSA")[1] == "AA"
    with factory() as s:
        new = s.scalars(select(RisPatient).where(RisPatient.patient_id == "P-NEW")).one()
        old = s.scalars(select(RisPatient).where(RisPatient.patient_id == "P-OLD")).one()
        assert old.merged_into_fk == new.id
        assert old.patient_name_ideographic == "右田^施子"
        assert s.scalars(select(RisOrder.patient_fk)).one() == new.id


# -- bad input: each answered, each naming what was wrong ------------------------------------


def test_unknown_trigger_is_rejected(factory: sessionmaker[Any]) -> None:
    answer = _send(factory, "\r".join([msh("ADT^A99^ADT_A01", "X1"), pid()]))
    # ERR-8 is escaped HL7 text: the '^' of the message type is \S\.
    assert "ADT\\S\\A99 is not processed" in _refused(answer, "AR", "MSH^1^9", "201")


def test_unknown_message_type_is_rejected(factory: sessionmaker[Any]) -> None:
    answer = _send(factory, "\r".join([msh("ZZZ^Z01", "X2"), pid()]))
    _refused(answer, "AR", "MSH^1^9", "200")


def test_missing_pid_3(factory: sessionmaker[Any]) -> None:
    answer = _send(factory, omg(pid_segment=pid(patient_id="")))
    assert "PID-3" in _refused(answer, "AE", "PID^1^3", "101")
    with factory() as s:
        assert s.scalars(select(RisOrder)).all() == []


@pytest.mark.parametrize(
    ("message", "location"),
    [
        (omg(start="20261331093000"), "TQ1^1^7"),  # month 13
        (omg(pid_segment=pid(birth="19650231")), "PID^1^7"),  # 31 February
    ],
)
def test_invalid_date(factory: sessionmaker[Any], message: str, location: str) -> None:
    assert "is not a date" in _refused(_send(factory, message), "AE", location, "102")


def test_wrong_charset_bytes(factory: sessionmaker[Any]) -> None:
    # Shift_JIS bytes under MSH-18 ~ISO IR87 (a common HIS misconfiguration).
    data = omg().encode("shift_jis")
    answer = MessageHandler(factory)(data).decode("iso2022_jp").split("\r")
    err = next(s.split("|") for s in answer if s.startswith("ERR"))
    msa = next(s.split("|") for s in answer if s.startswith("MSA"))
    assert (msa[1], err[2]) == ("AE", "MSH^1^18")
    assert "not valid in the character set" in err[8]


def test_unknown_charset(factory: sessionmaker[Any]) -> None:
    answer = _send(factory, omg(charset="KLINGON"), UTF8)
    assert "unknown character set" in _refused(answer, "AE", "MSH^1^18", "102")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (CHEST_CT[:16], "has 16 characters"),  # a bare 16M where JJ1017-32 is declared
        ("Z" + CHEST_CT[1:], "unknown modality code 'Z'"),
    ],
)
def test_bad_jj1017(factory: sessionmaker[Any], code: str, reason: str) -> None:
    assert reason in _refused(_send(factory, omg(code=code)), "AE", "OBR^1^4", "102")


def test_update_of_unknown_order(factory: sessionmaker[Any]) -> None:
    answer = _send(factory, omg("GHOST", control="XO"))
    assert "no order with placer_order_number 'GHOST'" in _refused(answer, "AE", "ORC^1^2", "204")


def test_duplicate_new_order(factory: sessionmaker[Any]) -> None:
    _send(factory, omg())
    _refused(_send(factory, omg()), "AE", "ORC^1^2", "205")


def test_merge_of_unknown_patient(factory: sessionmaker[Any]) -> None:
    answer = _send(factory, adt("A40", pid("P-NEW"), mrg="GHOST"))
    assert "no patient with ID 'GHOST'" in _refused(answer, "AE", "MRG^1^1", "204")
    with factory() as s:
        assert s.scalars(select(RisPatient)).all() == []  # the unit of work rolled back


def test_not_hl7_at_all(factory: sessionmaker[Any]) -> None:
    answer = MessageHandler(factory)(b"GET / HTTP/1.1\r\n").decode()
    assert "|AR|" in answer


def test_legacy_orm_and_omi(factory: sessionmaker[Any]) -> None:
    orm = omg("ORD-ORM").replace("OMG^O19^OMG_O19", "ORM^O01^ORM_O01")
    assert _seg(_send(factory, orm), "MSH")[8] == "ORR^O02^ORR_O02"
    ipc = "IPC|ACC77|RP77|1.2.392.200036.9116.2.77|SPS77|MR||||MR01"
    omi = omg("ORD-OMI").replace("OMG^O19^OMG_O19", "OMI^O23^OMI_O23") + "\r" + ipc
    answer = _send(factory, omi)
    assert (_seg(answer, "MSH")[8], _seg(answer, "MSA")[1]) == ("ORI^O24^ORI_O24", "AA")
    with factory() as s:
        order = s.scalars(select(RisOrder).where(RisOrder.accession_number == "ACC77")).one()
        rp = s.scalars(
            select(RisRequestedProcedure).where(RisRequestedProcedure.order_fk == order.id)
        ).one()
        assert (rp.requested_procedure_id, rp.study_instance_uid) == (
            "RP77",
            "1.2.392.200036.9116.2.77",
        )
        step = s.scalars(
            select(RisScheduledStep).where(RisScheduledStep.procedure_fk == rp.id)
        ).one()
        # IPC-5 wins over OBR-24; IPC-9 is the station AE.
        assert (
            step.scheduled_procedure_step_id,
            step.modality,
            step.scheduled_station_ae_title,
        ) == (
            "SPS77",
            "MR",
            "MR01",
        )
