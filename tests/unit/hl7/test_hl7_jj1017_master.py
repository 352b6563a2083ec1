"""HL7 orders and the JJ1017 master (raddx.hl7.handlers with raddx.ris.jj1017_master), on
SQLite and PostgreSQL: a code the master lacks is accepted by default and refused (AE, ERR
at OBR-4, 103 table value not found) when the site refuses unknown codes; so is a code the
master holds but not for the order's scheduled date (valid_from/valid_to)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from hl7_samples import CHEST_CT, IR87, encode, omg
from raddx.db import make_engine, make_session_factory, upgrade
from raddx.db.models import RisOrder
from raddx.hl7 import MessageHandler
from raddx.ris.jj1017_master import MasterEntry, import_master


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Any]]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _send(handler: MessageHandler, message: str) -> dict[str, list[str]]:
    text = handler(encode(message, IR87)).decode("iso2022_jp")
    return {s.split("|")[0]: s.split("|") for s in text.strip("\r").split("\r")}


def _orders(factory: sessionmaker[Any]) -> int:
    with factory() as session:
        return session.scalar(select(func.count(RisOrder.id))) or 0


def test_unknown_code_accepted_then_refused(factory: sessionmaker[Any]) -> None:
    accepted = _send(MessageHandler(factory), omg("ORD1", control_id="M1"))
    assert accepted["MSA"][1] == "AA"
    refusing = MessageHandler(factory, refuse_unknown_jj1017=True)
    refused = _send(refusing, omg("ORD2", control_id="M2"))
    assert refused["MSA"][1] == "AE"
    assert refused["ERR"][2] == "OBR^1^4"
    assert refused["ERR"][3].startswith("103^")
    assert f"not in the master: {CHEST_CT}" in refused["ERR"][8]
    assert _orders(factory) == 1  # nothing stored for the refused order
    with factory() as session, session.begin():
        import_master(
            [MasterEntry(row=2, code=CHEST_CT, name="胸部単純CT", modality="CT")],
            [],
            session=session,
            source="test",
        )
    assert _send(refusing, omg("ORD3", control_id="M3"))["MSA"][1] == "AA"
    assert _orders(factory) == 2


@pytest.mark.parametrize(
    ("valid_from", "valid_to"),
    [
        (None, "20251231"),  # retired before the order's day (omg(): 2026-11-26)
        ("20270101", None),  # not yet valid
    ],
)
def test_code_outside_its_validity(
    factory: sessionmaker[Any], valid_from: str | None, valid_to: str | None
) -> None:
    with factory() as session, session.begin():
        entry = MasterEntry(
            row=2,
            code=CHEST_CT,
            name="胸部単純CT",
            modality="CT",
            valid_from=valid_from,
            valid_to=valid_to,
        )
        import_master([entry], [], session=session, source="test")
    refused = _send(MessageHandler(factory, refuse_unknown_jj1017=True), omg("ORD1"))
    assert refused["MSA"][1] == "AE" and refused["ERR"][2] == "OBR^1^4"
    span = f"from {valid_from}" if valid_from else f"until {valid_to}"
    assert (
        f"not valid on the scheduled date: {CHEST_CT} (valid {span}, not on 20261126)"
        in (refused["ERR"][8])
    )
    assert _orders(factory) == 0
    # Accepted by default (flagged, as an unknown code is), with the master's name.
    assert _send(MessageHandler(factory), omg("ORD2", control_id="M2"))["MSA"][1] == "AA"
    assert _orders(factory) == 1


def test_code_inside_its_validity(factory: sessionmaker[Any]) -> None:
    with factory() as session, session.begin():
        entry = MasterEntry(
            row=2, code=CHEST_CT, name="胸部単純CT", valid_from="20260401", valid_to="20261126"
        )
        import_master([entry], [], session=session, source="test")
    accepted = _send(MessageHandler(factory, refuse_unknown_jj1017=True), omg("ORD1"))
    assert accepted["MSA"][1] == "AA"  # the last valid day is inclusive
