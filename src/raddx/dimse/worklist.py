"""Modality Worklist SCP (PS3.4 K): C-FIND on the Modality Worklist Information Model - FIND.

The handler decodes the identifier (pydicom decodes it with the request's Specific Character
Set, ISO 2022 IR 87 included), builds a :class:`~raddx.archive.query.WorklistQuery` and
encodes each answer in the caller's character set when it can hold every value, else
ISO_IR 192, exactly as the Query/Retrieve C-FIND does (:func:`raddx.dimse.find.response_charset`).
All matching happens in :mod:`raddx.archive.query.worklist`.

MWL associations are served by pynetdicom, not the fast path: the MWL SOP class is not in
the fast path's list, so an association proposing it is handed to pynetdicom.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pynetdicom.events import Event

# Generated at import time by pynetdicom, so its stubs do not list it.
from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]

from raddx.archive.query import QueryService, WorklistQuery, WorklistService
from raddx.dimse.find import (
    DEFAULT_MAX_FIND_MATCHES,
    FindAnswer,
    _charset_terms,
    _key_value,
    handle_find,
    response_charset,
)
from raddx.dimse.status import (
    CANCEL,
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
    OUT_OF_RESOURCES,
    PENDING,
    UNABLE_TO_PROCESS,
    status_dataset,
)
from raddx.errors import InvalidInput

__all__ = ["handle_c_find", "handle_worklist_find", "worklist_query"]

log = logging.getLogger(__name__)

_CONTROL = frozenset({"SpecificCharacterSet"})


def worklist_query(identifier: Dataset, *, limit: int | None = None) -> WorklistQuery:
    """The worklist query of a decoded C-FIND identifier (PS3.4 K.6.1.2).

    Raises
    ------
    InvalidInput
        An unknown character set term, or anything :class:`WorklistQuery` refuses.
    """
    _charset_terms(identifier)
    keys = {}
    for element in identifier:
        if element.tag.is_private or element.tag.group == 0:
            continue
        keyword = keyword_for_tag(element.tag)
        if keyword and keyword not in _CONTROL:
            keys[keyword] = _key_value(element)
    if keys.get("ScheduledProcedureStepSequence") is None and "ScheduledProcedureStepSequence" in (
        identifier
    ):
        # An empty sequence key is a universal match that returns the whole item (C.2.2.2.6).
        keys["ScheduledProcedureStepSequence"] = None
    return WorklistQuery(keys, limit=limit)


def handle_worklist_find(
    event: Event, service: WorklistService, max_matches: int = DEFAULT_MAX_FIND_MATCHES
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """pynetdicom's ``EVT_C_FIND`` handler for the worklist.

    Statuses (PS3.4 Table K.4-1): 0xFF00 Pending per item; Success when done (sent by
    pynetdicom); 0xFE00 Cancel; 0xA900 Identifier does not match SOP Class (malformed key
    such as a date range ``2026-11-26``, an SPS sequence with several items, an unknown
    character set); 0xA700 after ``max_matches`` items when more match; 0xC000 our failure.
    """
    calling = event.assoc.requestor.ae_title
    try:
        identifier = event.identifier
        terms = _charset_terms(identifier)
        query = worklist_query(identifier, limit=max_matches + 1)
    except InvalidInput as exc:
        log.warning("MWL C-FIND refused calling_ae=%s reason=%s", calling, exc)
        yield status_dataset(IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(exc)), None
        return
    except Exception:
        log.exception("MWL C-FIND identifier unreadable calling_ae=%s", calling)
        yield status_dataset(UNABLE_TO_PROCESS, "identifier could not be decoded"), None
        return
    sent = 0
    try:
        with contextlib.closing(service.find(query)) as answers:
            for answer in answers:
                if event.is_cancelled:
                    yield CANCEL, None
                    return
                if sent == max_matches:
                    comment = f"more than {max_matches} worklist items; first {max_matches} sent"
                    yield status_dataset(OUT_OF_RESOURCES, comment), None
                    return
                sent += 1
                yield PENDING, FindAnswer(answer, response_charset(answer, terms)).dataset()
    except Exception:
        log.exception("MWL C-FIND failed calling_ae=%s", calling)
        yield status_dataset(UNABLE_TO_PROCESS, "internal error; see server log"), None


def handle_c_find(
    event: Event,
    query_service: QueryService,
    worklist_service: WorklistService,
    max_matches: int = DEFAULT_MAX_FIND_MATCHES,
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """``EVT_C_FIND``: the worklist for the MWL SOP class, Query/Retrieve otherwise."""
    if event.request.AffectedSOPClassUID == ModalityWorklistInformationFind:
        yield from handle_worklist_find(event, worklist_service, max_matches)
    else:
        yield from handle_find(event, query_service, max_matches)
