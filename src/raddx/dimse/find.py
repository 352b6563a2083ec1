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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from raddx.dimse._identifier_codec import encode_answer
from raddx.dimse.status import (
    CANCEL,
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
    OUT_OF_RESOURCES,
    PENDING,
    SUCCESS,
    UNABLE_TO_PROCESS,
    status_dataset,
)
from raddx.errors import InvalidInput

__all__ = [
    "DEFAULT_MAX_FIND_MATCHES",
    "FIND_MODELS",
    "FindAnswer",
    "FindOptions",
    "extended_reply",
    "find_responses",
    "handle_find",
    "handle_sop_extended",
    "pynetdicom_responses",
    "stream_responses",
]

log = logging.getLogger(__name__)

#: Most matches one C-FIND answers before it stops with 0xA700 (see :func:`handle_find`).
DEFAULT_MAX_FIND_MATCHES = 10_000

FIND_MODELS = {
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


def extended_reply(sop_class_uid: str, proposed: bytes | None) -> bytes | None:
    """Our answer to a C-FIND extended negotiation proposal (PS3.4 C.5.1.1.1) for one SOP
    class, or ``None`` when there is nothing to answer: each proposed flag we support is
    accepted (1), the others are refused (0), in a reply as long as the proposal (at most the
    four bytes we know). Used by both DIMSE paths (pynetdicom's and the fast path)."""
    if sop_class_uid not in FIND_MODELS or not proposed:
        return None
    return bytes(
        1 if byte == 1 and _SUPPORTED.get(index, False) else 0
        for index, byte in enumerate(proposed[: len(_SUPPORTED)])
    )


def handle_sop_extended(event: Event) -> dict[UID, bytes]:
    """pynetdicom's ``EVT_SOP_EXTENDED`` handler: :func:`extended_reply` per proposal."""
    replies: dict[UID, bytes] = {}
    for sop_class, info in (event.app_info or {}).items():  # type: ignore[attr-defined]
        reply = extended_reply(str(sop_class), info)
        if reply is not None:
            replies[UID(sop_class)] = reply
    return replies


@dataclass(frozen=True, slots=True)
class FindOptions:
    """What the association's extended negotiation accepted for the C-FIND SOP class."""

    relational: bool = False
    combined_date_time: bool = False
    fuzzy: bool = False

    @classmethod
    def from_accepted(cls, accepted: bytes | None) -> FindOptions:
        """From the accepted Service Class Application Information bytes."""
        info = accepted or b""

        def flag(index: int) -> bool:
            return len(info) > index and info[index] == 1

        return cls(
            relational=flag(_RELATIONAL), combined_date_time=flag(_DATE_TIME), fuzzy=flag(_FUZZY)
        )


def _accepted_options(event: Event) -> FindOptions:
    acceptor = event.assoc.acceptor
    accepted: dict[str, bytes] = getattr(acceptor, "sop_class_extended", None) or {}
    return FindOptions.from_accepted(accepted.get(str(event.request.AffectedSOPClassUID)))


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


@dataclass(frozen=True, slots=True)
class FindAnswer:
    """One match as the doors send it: the answer's values and the Specific Character Set
    of the response (:func:`response_charset`; empty for the default repertoire)."""

    values: dict[str, Any]
    charset: list[str]

    def dataset(self) -> Dataset:
        """The identifier as a pydicom dataset."""
        ds = Dataset()
        if self.charset:
            ds.SpecificCharacterSet = self.charset if len(self.charset) > 1 else self.charset[0]
        _set_values(ds, self.values)
        return ds

    def encoded(self, *, implicit_vr: bool) -> bytes | None:
        """The identifier encoded (Little Endian) without building a dataset, or ``None``
        when :func:`~raddx.dimse._identifier_codec.encode_answer` cannot."""
        return encode_answer(self.values, self.charset, implicit_vr=implicit_vr)


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


#: One C-FIND response: status, the match (Pending only), Error Comment.
FindResponse = tuple[int, FindAnswer | None, str | None]


def find_responses(
    identifier: Dataset,
    model: InformationModelValues,
    query_service: QueryService,
    *,
    options: FindOptions,
    max_matches: int,
    is_cancelled: Callable[[], bool],
    retrieve_ae_title: str,
    calling_ae_title: str,
) -> Iterator[FindResponse]:
    """C-FIND (PS3.4 C.4.1) for Patient Root and Study Root, whichever door carries it: one
    Pending response per match, then exactly one final response.

    Statuses (PS3.4 Table C.4-1): 0xFF00 Pending, one per match with its identifier;
    0x0000 Success after the last match; 0xFE00 Cancel once ``is_cancelled`` says so (it is
    asked before each match); 0xA900 Identifier does not match SOP Class (no or unknown
    QueryRetrieveLevel, PATIENT level in Study Root, a key below the query level, a malformed
    value such as a wildcard UID or the range ``20240101-2023``, an unknown character set
    term); 0xA700 Out of resources after ``max_matches`` pending answers when more match (the
    comment says so); 0xC000 Unable to process (our fault; logged with traceback). Failures
    carry an Error Comment.
    """
    try:
        terms = _charset_terms(identifier)
        query = query_from_identifier(
            identifier,
            model,
            limit=max_matches + 1,
            fuzzy=options.fuzzy,
            relational=options.relational,
            combined_date_time=options.combined_date_time,
        )
    except InvalidInput as exc:
        log.warning("C-FIND refused calling_ae=%s reason=%s", calling_ae_title, exc)
        yield IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, None, str(exc)
        return
    except Exception:
        log.exception("C-FIND identifier unreadable calling_ae=%s", calling_ae_title)
        yield UNABLE_TO_PROCESS, None, "identifier could not be decoded"
        return
    yield from stream_responses(
        query_service.find(query),
        terms,
        max_matches=max_matches,
        is_cancelled=is_cancelled,
        calling_ae_title=calling_ae_title,
        retrieve_ae_title=retrieve_ae_title,
    )


def stream_responses(
    answers: Iterator[dict[str, Any]],
    terms: list[str],
    *,
    max_matches: int,
    is_cancelled: Callable[[], bool],
    calling_ae_title: str,
    retrieve_ae_title: str | None = None,
    service: str = "C-FIND",
    noun: str = "matches",
) -> Iterator[FindResponse]:
    """The Pending responses for ``answers`` (closed when done), then the final one: the
    part of a C-FIND that Query/Retrieve and the Modality Worklist share. A requested
    RetrieveAETitle is answered with ``retrieve_ae_title`` when given.

    ``is_cancelled`` is asked before each match, outside the error handling of the query:
    what it raises (a peer breaking the protocol) ends the association, it is not answered
    as an internal error. 0xA700 after ``max_matches`` answers when more match; 0xC000 when
    reading the answers fails (logged).
    """
    sent = 0
    with contextlib.closing(answers):  # type: ignore[type-var]
        while True:
            try:
                answer = next(answers, None)
                found = None
                if answer is not None:
                    if retrieve_ae_title is not None and "RetrieveAETitle" in answer:
                        answer["RetrieveAETitle"] = retrieve_ae_title
                    found = FindAnswer(answer, response_charset(answer, terms))
            except Exception:
                log.exception("%s failed calling_ae=%s", service, calling_ae_title)
                yield UNABLE_TO_PROCESS, None, "internal error; see server log"
                return
            if found is None:
                break
            if is_cancelled():
                yield CANCEL, None, None
                return
            if sent == max_matches:
                log.warning(
                    "%s truncated calling_ae=%s max_matches=%d",
                    service,
                    calling_ae_title,
                    max_matches,
                )
                comment = f"more than {max_matches} {noun}; first {max_matches} sent"
                yield OUT_OF_RESOURCES, None, comment
                return
            sent += 1
            yield PENDING, found, None
    yield SUCCESS, None, None


def handle_find(
    event: Event, query_service: QueryService, max_matches: int = DEFAULT_MAX_FIND_MATCHES
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """pynetdicom's ``EVT_C_FIND`` handler: :func:`find_responses` in pynetdicom's terms
    (it sends the final Success itself when the handler ends)."""
    assoc = event.assoc
    try:
        identifier = event.identifier
    except Exception:
        log.exception("C-FIND identifier unreadable calling_ae=%s", assoc.requestor.ae_title)
        yield status_dataset(UNABLE_TO_PROCESS, "identifier could not be decoded"), None
        return
    responses = find_responses(
        identifier,
        FIND_MODELS[event.request.AffectedSOPClassUID],
        query_service,
        options=_accepted_options(event),
        max_matches=max_matches,
        is_cancelled=lambda: bool(event.is_cancelled),
        retrieve_ae_title=assoc.acceptor.ae_title,
        calling_ae_title=assoc.requestor.ae_title,
    )
    yield from pynetdicom_responses(responses, assoc)


def pynetdicom_responses(
    responses: Iterator[FindResponse], assoc: object
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """A door-neutral C-FIND response stream in pynetdicom's handler terms: it sends the
    final Success itself when the handler ends. Pending responses are written on this thread
    (:func:`_direct_writes`)."""
    with contextlib.closing(responses), _direct_writes(assoc):  # type: ignore[type-var]
        for status, answer, comment in responses:
            if status == PENDING and answer is not None:
                yield PENDING, answer.dataset()
            elif status == CANCEL:
                yield CANCEL, None
            elif status != SUCCESS:
                yield status_dataset(status, comment), None
