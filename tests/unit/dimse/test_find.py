"""The C-FIND handler without sockets: cancel, maximum matches, response character set."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from raddx.archive.query import Query
from raddx.dimse.find import (
    handle_find,
    handle_sop_extended,
    query_from_identifier,
    response_charset,
)

NAME = "Yamada^Tarou=山田^太郎=やまだ^たろう"


class _Service:
    """Stands in for QueryService: records the query, answers ``count`` matches."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.query: Query | None = None
        self.closed = False

    def find(self, query: Query) -> Iterator[dict[str, Any]]:
        self.query = query
        try:
            for n in range(self.count):
                yield {"QueryRetrieveLevel": "STUDY", "PatientName": NAME, "StudyID": str(n)}
        finally:
            self.closed = True


class _Event:
    def __init__(self, identifier: Dataset, cancel_after: int | None = None) -> None:
        self.identifier = identifier
        self.request = SimpleNamespace(
            AffectedSOPClassUID=StudyRootQueryRetrieveInformationModelFind
        )
        self.assoc = SimpleNamespace(
            requestor=SimpleNamespace(ae_title="SCU"), acceptor=SimpleNamespace(ae_title="RADDX")
        )
        self.checks = 0
        self.cancel_after = cancel_after

    @property
    def is_cancelled(self) -> bool:
        self.checks += 1
        return self.cancel_after is not None and self.checks > self.cancel_after


def _identifier(**keys: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = ""
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def _statuses(responses: list[tuple[Any, Any]]) -> list[int]:
    return [s if isinstance(s, int) else int(s.Status) for s, _ in responses]


def test_pending_per_match_then_success_from_pynetdicom() -> None:
    service = _Service(3)
    responses = list(handle_find(_Event(_identifier()), service))  # type: ignore[arg-type]
    assert _statuses(responses) == [0xFF00] * 3
    assert service.closed


def test_cancel_stops_with_fe00_and_closes_the_query() -> None:
    service = _Service(5)
    event = _Event(_identifier(), cancel_after=2)
    responses = list(handle_find(event, service))  # type: ignore[arg-type]
    assert _statuses(responses) == [0xFF00, 0xFF00, 0xFE00]
    assert service.closed


def test_maximum_matches_sends_that_many_then_a700() -> None:
    service = _Service(5)
    responses = list(handle_find(_Event(_identifier()), service, 3))  # type: ignore[arg-type]
    assert _statuses(responses) == [0xFF00] * 3 + [0xA700]
    assert "more than 3 matches" in responses[-1][0].ErrorComment
    assert service.query is not None and service.query.limit == 4  # one more, to detect it


def test_identifier_becomes_a_neutral_query() -> None:
    identifier = _identifier(StudyDate="20240101-", PatientID="", SpecificCharacterSet="ISO_IR 192")
    identifier.PatientName = "山田*"
    identifier.ReferencedStudySequence = []  # sequence keys are return-only for now
    query = query_from_identifier(identifier, "STUDY_ROOT")  # type: ignore[arg-type]
    assert query.keys == {
        "StudyDate": "20240101-",
        "PatientID": None,
        "PatientName": "山田*",
        "ReferencedStudySequence": None,
    }


@pytest.mark.parametrize(
    ("value", "request_terms", "expected"),
    [
        ("Doe^John", [], []),  # ASCII fits the default repertoire: no charset in the answer
        ("Müller", [], ["ISO_IR 192"]),  # the default repertoire is ASCII, not Latin-1
        ("Müller", ["ISO_IR 100"], ["ISO_IR 100"]),
        (NAME, ["ISO_IR 100"], ["ISO_IR 192"]),  # kanji/kana: never dropped, UTF-8 instead
        (NAME, ["", "ISO 2022 IR 87"], ["", "ISO 2022 IR 87"]),
        (NAME, ["ISO 2022 IR 13", "ISO 2022 IR 87"], ["ISO 2022 IR 13", "ISO 2022 IR 87"]),
        ("ﾔﾏﾀﾞ^ﾀﾛｳ", ["ISO 2022 IR 13"], ["ISO 2022 IR 13"]),  # JIS X 0201 katakana
        ("山田", ["ISO 2022 IR 13"], ["ISO_IR 192"]),  # IR 13 alone has no kanji
        ("홍길동", ["", "ISO 2022 IR 87"], ["ISO_IR 192"]),  # Hangul is not in JIS X 0208
        (NAME, ["ISO_IR 192"], ["ISO_IR 192"]),
    ],
)
def test_response_character_set(value: str, request_terms: list[str], expected: list[str]) -> None:
    assert response_charset({"PatientName": value}, request_terms) == expected


@pytest.mark.parametrize(
    ("proposed", "reply"),
    [
        (b"\x01\x01\x01\x01", b"\x01\x01\x01\x01"),  # all four supported
        (b"\x00\x00\x01", b"\x00\x00\x01"),  # a shorter proposal gets a reply as long
        (b"\x01", b"\x01"),  # relational only
        (b"\x00\x01\x01\x01\x01", b"\x00\x01\x01\x01"),  # a fifth byte we do not know
        (b"\x02\x00", b"\x00\x00"),  # not a flag value
    ],
)
def test_extended_negotiation_accepts_fuzzy_and_timezone(proposed: bytes, reply: bytes) -> None:
    event = SimpleNamespace(app_info={StudyRootQueryRetrieveInformationModelFind: proposed})
    assert handle_sop_extended(event) == {StudyRootQueryRetrieveInformationModelFind: reply}  # type: ignore[arg-type]


def test_extended_negotiation_ignores_other_sop_classes() -> None:
    event = SimpleNamespace(app_info={"1.2.840.10008.5.1.4.1.2.2.3": b"\x01"})  # GET
    assert handle_sop_extended(event) == {}  # type: ignore[arg-type]


def test_negotiated_fuzzy_reaches_the_query() -> None:
    service = _Service(1)
    event = _Event(_identifier(PatientName="さとう*"))
    event.assoc.acceptor.sop_class_extended = {  # type: ignore[attr-defined]
        StudyRootQueryRetrieveInformationModelFind: b"\x00\x00\x01\x01"
    }
    list(handle_find(event, service))  # type: ignore[arg-type]
    assert service.query is not None and service.query.fuzzy


def test_timezone_offset_in_the_identifier_is_the_query_timezone() -> None:
    query = query_from_identifier(
        _identifier(TimezoneOffsetFromUTC="+0900", StudyDate="20240101"), "STUDY_ROOT"
    )
    assert query.timezone_offset_from_utc == "+0900"
    assert query.keys["TimezoneOffsetFromUTC"] is None  # returned, not matched
