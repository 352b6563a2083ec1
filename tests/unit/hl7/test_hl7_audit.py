"""HL7 v2 door audit events: Order Record for orders (C new, D cancelled), Patient Record for
ADT (C admit/register, U update), sender MSH-3^MSH-4 as requestor; refusals outcome 4."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker

from audit_schema import assert_valid
from hl7_samples import adt, encode, omg
from raddx.db import make_engine, make_session_factory, upgrade
from raddx.hl7 import MessageHandler
from raddx.security import audit
from raddx.security.atna import AuditSource, to_xml

SOURCE = AuditSource(source_id="RADDX@test", ae_title="RADDX", host="127.0.0.1", process_id=1)


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Any]]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _events(factory: sessionmaker[Any], message: str) -> list[audit.AuditEvent]:
    with audit.capture() as events:
        MessageHandler(factory)(encode(message))
    return events


@pytest.mark.parametrize(
    ("message", "event_id", "action"),
    [
        (adt("A01"), "110110", "C"),
        (adt("A04"), "110110", "C"),
        (adt("A08"), "110110", "U"),
        (omg("ORD0100"), "110109", "C"),
    ],
)
def test_message_is_audited(
    factory: sessionmaker[Any], message: str, event_id: str, action: str
) -> None:
    [event] = _events(factory, message)
    assert (event.event_id.code.code, event.action.value, event.outcome) == (event_id, action, 0)
    assert event.user == "HIS^TOKYO-HP"
    assert event.patient_id == "0012345"
    root = assert_valid(to_xml(event, SOURCE))
    assert root.find("ParticipantObjectIdentification").get("ParticipantObjectID") == "0012345"


def test_cancel_is_a_delete(factory: sessionmaker[Any]) -> None:
    _events(factory, omg("ORD0101"))
    [event] = _events(factory, omg("ORD0101", control="CA", control_id="MSG0002"))
    assert (event.event_id.code.code, event.action.value) == ("110109", "D")


def test_refused_message_is_audited_as_minor_failure(factory: sessionmaker[Any]) -> None:
    [event] = _events(factory, adt("A40"))  # a merge without MRG: refused (AR/AE)
    assert (event.event_id.code.code, event.action.value, event.outcome) == ("110110", "U", 4)
    assert "MRG" in (event.outcome_description or "")
    assert_valid(to_xml(event, SOURCE))
