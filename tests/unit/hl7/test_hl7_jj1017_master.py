"""HL7 orders and the JJ1017 master (raddx.hl7.handlers with raddx.ris.jj1017_master), on
SQLite and PostgreSQL: a code the master lacks is accepted by default and refused (AE, ERR
at OBR-4, 103 table value not found) when the site refuses unknown codes."""

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
