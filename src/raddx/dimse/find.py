"""C-FIND SCP (PS3.4 C.4.1): Patient Root and Study Root Query/Retrieve — FIND.

The handler decodes the identifier (pydicom decodes text with the request's Specific
Character Set: ISO_IR 100, ISO_IR 192, ISO 2022 IR 13/87/159 …), builds a neutral
:class:`~raddx.archive.query.Query` and encodes each answer. All matching happens in
:mod:`raddx.archive.query`.

Answers are encoded in the caller's Specific Character Set when it can represent every value,
otherwise in ISO_IR 192 (UTF-8), with the response's Specific Character Set saying which. No
component group of a person name is ever dropped to make it fit.

Extended negotiation (PS3.4 C.5.1.1.1, the C-FIND Service Class Application Information):
:func:`handle_sop_extended` accepts relational queries (byte 1), combined date-time matching
(byte 2), fuzzy semantic matching of person names (byte 3) and timezone query adjustment
(byte 4) when proposed; :func:`handle_find` applies what was accepted.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from typing import Any, cast

from pydicom.charset import _encode_string_impl, python_encoding
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)

from raddx.archive.query import InformationModelValues, Query, QueryService
from raddx.dimse._direct_link import direct_writes, supports_direct
from raddx.dimse.status import (
    CANCEL,
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
    OUT_OF_RESOURCES,
    PENDING,
    UNABLE_TO_PROCESS,
    status_dataset,
)
from raddx.errors import InvalidInput

__all__ = ["DEFAULT_MAX_FIND_MATCHES", "handle_find", "handle_sop_extended"]

log = logging.getLogger(__name__)

#: Most matches one C-FIND answers before it stops with 0xA700 (see :func:`handle_find`).
DEFAULT_MAX_FIND_MATCHES = 10_000

_MODELS = {
    PatientRootQueryRetrieveInformationModelFind: InformationModelValues.PATIENT_ROOT,
    StudyRootQueryRetrieveInformationModelFind: InformationModelValues.STUDY_ROOT,
}
#: Identifier elements that steer the query instead of being keys.
_CONTROL = frozenset({"SpecificCharacterSet", "QueryRetrieveLevel"})
#: Bytes of the C-FIND extended negotiation (PS3.4 C.5.1.1.1), 0-based, and whether we
#: support each: relational queries, combined date-time matching, fuzzy semantic matching of
#: person names, timezone query adjustment.
_RELATIONAL, _DATE_TIME, _FUZZY, _TIMEZONE = 0, 1, 2, 3
_SUPPORTED = {_RELATIONAL: True, _DATE_TIME: True, _FUZZY: True, _TIMEZONE: True}
#: The default repertoire (PS3.5 6.1.2.1) is ASCII; pydicom reads it as Latin-1, but an answer
#: with Latin-1 bytes under it would be misread by a strict peer.
_DEFAULT_REPERTOIRE = frozenset({"", "ISO_IR 6", "ISO 2022 IR 6"})
_UTF8 = "ISO_IR 192"


def _charset_terms(identifier: Dataset) -> list[str]:
    """The request's Specific Character Set terms; unknown terms are invalid input."""
    value = identifier.get("SpecificCharacterSet")
    if value is None or value == "":
        return []
    terms = [str(t).strip() for t in (value if isinstance(value, MultiValue) else [value])]
    unknown = [t for t in terms if t not in python_encoding]
    if unknown:
        raise InvalidInput(f"unknown Specific Character Set term(s): {', '.join(unknown)}")
    return terms


def _key_value(element: Any) -> Any:
    if element.VR == "SQ":
        # Sequence matching (C.2.2.2.6): the items as keyword → value mappings; the query
        # refuses more than one item.
        return [
            {keyword_for_tag(e.tag): _key_value(e) for e in item if keyword_for_tag(e.tag)}
            for item in element.value
        ] or None
    value = element.value
    if value is None or value == "":
        return None
    if isinstance(value, MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value)


def query_from_identifier(
    identifier: Dataset,
    model: InformationModelValues,
    *,
    limit: int | None = None,
    fuzzy: bool = False,
    relational: bool = False,
    combined_date_time: bool = False,
) -> Query:
    """Build the neutral query from a decoded C-FIND identifier (PS3.4 C.4.1.2.1).

    A TimezoneOffsetFromUTC with a value is the query's timezone (PS3.4 C.2.2.2.5) and a
    return key; ``fuzzy``, ``relational`` and ``combined_date_time`` are what the association
    negotiated.

    Raises
    ------
    InvalidInput
        No QueryRetrieveLevel, an unknown charset term, or anything :class:`Query` refuses.
    """
    _charset_terms(identifier)
    level = str(identifier.get("QueryRetrieveLevel", "") or "").strip()
    if not level:
        raise InvalidInput("QueryRetrieveLevel (0008,0052) is missing")
    keys: dict[str, str | None] = {}
    for element in identifier:
        if element.tag.is_private or element.tag.group == 0:
            continue
        keyword = keyword_for_tag(element.tag)
        if not keyword or keyword in _CONTROL:
            continue
        keys[keyword] = _key_value(element)
    timezone = keys.get("TimezoneOffsetFromUTC")
    if timezone is not None:
        keys["TimezoneOffsetFromUTC"] = None
    return Query(
        level=level,
        information_model=model,
        keys=keys,
        limit=limit,
        fuzzy=fuzzy,
        relational=relational,
        combined_date_time=combined_date_time,
        timezone_offset_from_utc=timezone,
    )


def handle_sop_extended(event: Event) -> dict[UID, bytes]:
    """Answer the C-FIND extended negotiation (PS3.4 C.5.1.1.1, bound to
    ``EVT_SOP_EXTENDED``): each proposed flag we support is accepted (1), the others are
    refused (0), in a reply as long as the proposal (at most the four bytes we know)."""
    replies: dict[UID, bytes] = {}
    for sop_class, info in (event.app_info or {}).items():  # type: ignore[attr-defined]
        if sop_class not in _MODELS or not info:
            continue
        replies[UID(sop_class)] = bytes(
            1 if byte == 1 and _SUPPORTED.get(index, False) else 0
            for index, byte in enumerate(info[: len(_SUPPORTED)])
        )
    return replies


def _accepted(event: Event, flag: int) -> bool:
    """Whether ``flag`` was accepted for this SOP class on this association."""
    acceptor = event.assoc.acceptor
    accepted: dict[str, bytes] = getattr(acceptor, "sop_class_extended", None) or {}
    info = accepted.get(str(event.request.AffectedSOPClassUID)) or b""
    return len(info) > flag and info[flag] == 1


@functools.lru_cache(maxsize=4096)
def _char_encodable(char: str, encodings: tuple[str, ...]) -> bool:
    for encoding in encodings:
        try:
            # pydicom's per-encoding encoder, which knows that ISO 2022 IR 13 means
            # JIS X 0201 only (Python's shift_jis codec would also take kanji).
            _encode_string_impl(char, encoding)
        except (UnicodeError, ValueError):
            continue
        return True
    return False


def _encodings(terms: list[str]) -> tuple[str, ...]:
    if not terms:
        return ("ascii",)
    return tuple("ascii" if t in _DEFAULT_REPERTOIRE else python_encoding[t] for t in terms)


def _texts(answer: dict[str, Any]) -> Iterator[str]:
    for value in answer.values():
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            for v in value:
                if isinstance(v, str):
                    yield v
                elif isinstance(v, dict):  # a sequence item
                    yield from _texts(v)


def response_charset(answer: dict[str, Any], request_terms: list[str]) -> list[str]:
    """The caller's terms when they can encode every value of ``answer``, else ISO_IR 192."""
    encodings = _encodings(request_terms)
    if all(
        ch.isascii() or _char_encodable(ch, encodings) for text in _texts(answer) for ch in text
    ):
        return request_terms
    return [_UTF8]


def _answer_dataset(answer: dict[str, Any], terms: list[str]) -> Dataset:
    ds = Dataset()
    charset = response_charset(answer, terms)
    if charset:
        ds.SpecificCharacterSet = charset if len(charset) > 1 else charset[0]
    _set_values(ds, answer)
    return ds


def _set_values(ds: Dataset, values: dict[str, Any]) -> None:
    for keyword, value in values.items():
        if dictionary_VR(keyword) == "SQ":
            items = []
            for item_values in value or ():
                item = Dataset()
                _set_values(item, item_values)
                items.append(item)
            setattr(ds, keyword, Sequence(items))
        else:
            setattr(ds, keyword, "" if value is None else value)


def _direct_writes(assoc: object) -> contextlib.AbstractContextManager[None]:
    """Pending responses written on this thread (:func:`raddx.dimse._direct_link.direct_writes`:
    no wait for the DUL reactor's poll per response); unit tests' stand-ins get nothing."""
    if supports_direct(assoc):
        return direct_writes(cast(Association, assoc))
    return contextlib.nullcontext()


def handle_find(
    event: Event, query_service: QueryService, max_matches: int = DEFAULT_MAX_FIND_MATCHES
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """C-FIND (PS3.4 C.4.1) for Patient Root and Study Root.

    Statuses (PS3.4 Table C.4-1): 0xFF00 Pending, one per match with its identifier;
    0x0000 Success after the last match (sent by pynetdicom); 0xFE00 Cancel after a
    C-CANCEL; 0xA900 Identifier does not match SOP Class (no or unknown QueryRetrieveLevel,
    PATIENT level in Study Root, a key below the query level, a malformed value such as a
    wildcard UID or the range ``20240101-2023``, an unknown character set term); 0xA700
    Out of resources after ``max_matches`` pending answers when more match (the comment says
    so); 0xC000 Unable to process (our fault; logged with traceback). Failures carry an Error
    Comment.
    """
    assoc = event.assoc
    model = _MODELS[event.request.AffectedSOPClassUID]
    try:
        identifier = event.identifier
        terms = _charset_terms(identifier)
        query = query_from_identifier(
            identifier,
            model,
            limit=max_matches + 1,
            fuzzy=_accepted(event, _FUZZY),
            relational=_accepted(event, _RELATIONAL),
            combined_date_time=_accepted(event, _DATE_TIME),
        )
    except InvalidInput as exc:
        log.warning("C-FIND refused calling_ae=%s reason=%s", assoc.requestor.ae_title, exc)
        yield status_dataset(IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(exc)), None
        return
    except Exception:
        log.exception("C-FIND identifier unreadable calling_ae=%s", assoc.requestor.ae_title)
        yield status_dataset(UNABLE_TO_PROCESS, "identifier could not be decoded"), None
        return
    retrieve_ae = assoc.acceptor.ae_title
    sent = 0
    try:
        with contextlib.closing(query_service.find(query)) as answers, _direct_writes(assoc):
            for answer in answers:
                if event.is_cancelled:
                    yield CANCEL, None
                    return
                if sent == max_matches:
                    log.warning(
                        "C-FIND truncated calling_ae=%s max_matches=%d",
                        assoc.requestor.ae_title,
                        max_matches,
                    )
                    comment = f"more than {max_matches} matches; first {max_matches} sent"
                    yield status_dataset(OUT_OF_RESOURCES, comment), None
                    return
                if "RetrieveAETitle" in answer:
                    answer["RetrieveAETitle"] = retrieve_ae
                yield PENDING, _answer_dataset(answer, terms)
                sent += 1
    except Exception:
        log.exception("C-FIND failed calling_ae=%s", assoc.requestor.ae_title)
        yield status_dataset(UNABLE_TO_PROCESS, "internal error; see server log"), None
        return
