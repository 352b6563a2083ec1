"""Modality Worklist SCP (PS3.4 K): C-FIND on the Modality Worklist Information Model - FIND.

The handler decodes the identifier (pydicom decodes it with the request's Specific Character
Set, ISO 2022 IR 87 included), builds a :class:`~raddx.archive.query.WorklistQuery` and
encodes each answer in the caller's character set when it can hold every value, else
ISO_IR 192, exactly as the Query/Retrieve C-FIND does (:func:`raddx.dimse.find.response_charset`).
All matching happens in :mod:`raddx.archive.query.worklist`.

Both DIMSE paths serve it: pynetdicom's event handler and the fast path
(:func:`worklist_handler`), from one response generator (:func:`worklist_responses`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pynetdicom.events import Event

# Generated at import time by pynetdicom, so its stubs do not list it.
from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]

from raddx.archive.query import QueryService, WorklistQuery, WorklistService
from raddx.dimse import _audit as dimse_audit
from raddx.dimse.fast_path import Link, Message, RequestHandler
from raddx.dimse.fast_qr import c_find_handler
from raddx.dimse.find import (
    DEFAULT_MAX_FIND_MATCHES,
    FindResponse,
    _charset_terms,
    _key_value,
    handle_find,
    pynetdicom_responses,
    stream_responses,
)
from raddx.dimse.status import (
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
    UNABLE_TO_PROCESS,
    status_dataset,
)
from raddx.errors import InvalidInput

__all__ = [
    "handle_c_find",
    "handle_worklist_find",
    "worklist_handler",
    "worklist_query",
    "worklist_responses",
]

_C_FIND_RQ = 0x0020
_C_FIND_RSP = 0x8020

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


def worklist_responses(
    identifier: Dataset,
    service: WorklistService,
    *,
    max_matches: int,
    is_cancelled: Callable[[], bool],
    calling_ae_title: str,
) -> Generator[FindResponse, None, None]:
    """MWL C-FIND for either DIMSE path: one Pending response per item, then exactly one
    final response (as :func:`raddx.dimse.find.find_responses`).

    Statuses (PS3.4 Table K.4-1): 0xFF00 Pending per item; 0x0000 Success; 0xFE00 Cancel;
    0xA900 Identifier does not match SOP Class (malformed key such as a date range
    ``2026-11-26``, an SPS sequence with several items, an unknown character set); 0xA700
    after ``max_matches`` items when more match; 0xC000 our failure (logged).
    """
    try:
        terms = _charset_terms(identifier)
        query = worklist_query(identifier, limit=max_matches + 1)
    except InvalidInput as exc:
        log.warning("MWL C-FIND refused calling_ae=%s reason=%s", calling_ae_title, exc)
        yield IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, None, str(exc)
        return
    except Exception:
        log.exception("MWL C-FIND identifier unreadable calling_ae=%s", calling_ae_title)
        yield UNABLE_TO_PROCESS, None, "identifier could not be decoded"
        return
    yield from stream_responses(
        service.find(query),
        terms,
        max_matches=max_matches,
        is_cancelled=is_cancelled,
        calling_ae_title=calling_ae_title,
        service="MWL C-FIND",
        noun="worklist items",
    )


def handle_worklist_find(
    event: Event, service: WorklistService, max_matches: int = DEFAULT_MAX_FIND_MATCHES
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """pynetdicom's ``EVT_C_FIND`` handler for the worklist (:func:`worklist_responses`)."""
    calling = event.assoc.requestor.ae_title
    try:
        identifier = event.identifier
    except Exception:
        log.exception("MWL C-FIND identifier unreadable calling_ae=%s", calling)
        yield status_dataset(UNABLE_TO_PROCESS, "identifier could not be decoded"), None
        return
    responses = worklist_responses(
        identifier,
        service,
        max_matches=max_matches,
        is_cancelled=lambda: bool(event.is_cancelled),
        calling_ae_title=calling,
    )
    yield from pynetdicom_responses(responses, event.assoc)


def worklist_handler(service: WorklistService, max_matches: int) -> RequestHandler:
    """The MWL C-FIND request handler for the fast path (:mod:`raddx.dimse.fast_path`):
    identifiers are hand-encoded (:meth:`FindAnswer.encoded`) instead of built as pydicom
    datasets, which cost ~3 ms per worklist item with its nested protocol code sequences."""

    def responses_for(
        link: Link, message: Message, identifier: Dataset, is_cancelled: Callable[[], bool]
    ) -> Iterator[FindResponse]:
        return worklist_responses(
            identifier,
            service,
            max_matches=max_matches,
            is_cancelled=is_cancelled,
            calling_ae_title=link.calling_ae_title,
        )

    return c_find_handler(responses_for, "MWL C-FIND")


def handle_c_find(
    event: Event,
    query_service: QueryService,
    worklist_service: WorklistService,
    max_matches: int = DEFAULT_MAX_FIND_MATCHES,
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """``EVT_C_FIND``: the worklist for the MWL SOP class, Query/Retrieve otherwise. Each
    request is audited (Query, PS3.15 A.5.3.10) with its identifier as sent."""
    request = event.request
    identifier = request.Identifier
    dimse_audit.query(
        calling_ae_title=event.assoc.requestor.ae_title,
        host=event.assoc.requestor.address,
        sop_class_uid=str(request.AffectedSOPClassUID),
        identifier=identifier.getvalue() if identifier is not None else b"",
        transfer_syntax_uid=str(event.context.transfer_syntax),
    )
    if event.request.AffectedSOPClassUID == ModalityWorklistInformationFind:
        yield from handle_worklist_find(event, worklist_service, max_matches)
    else:
        yield from handle_find(event, query_service, max_matches)
