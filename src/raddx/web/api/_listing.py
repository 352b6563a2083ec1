"""Listing and fetching through the query engine: the REST API builds a
:class:`~raddx.archive.query.Query` like every other door and pages with its limit/offset
(one more match is asked for, to know whether a next page exists)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Path, Query
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)
from starlette.requests import Request

from raddx.archive.query import Query as ArchiveQuery
from raddx.archive.query import QueryService
from raddx.errors import NotFound
from raddx.services import Services
from raddx.web import _audit as web_audit
from raddx.web.api._models import UID_PATTERN, PersonName

__all__ = [
    "Limit",
    "Offset",
    "UIDPath",
    "count_matches",
    "fetch_one",
    "fetch_page",
    "public_values",
]

#: Most items one page holds.
MAX_LIMIT = 1000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (1-{MAX_LIMIT}).")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip.")]
UIDPath = Annotated[
    str, Path(pattern=UID_PATTERN, max_length=64, description="A DICOM UID (PS3.5 9.1).")
]
_PN_FIELDS = ("PatientName", "ReferringPhysicianName")


def public_values(answer: Mapping[str, Any]) -> dict[str, Any]:
    """An answer of the query engine as model fields: person names by group."""
    values = {k: v for k, v in answer.items() if k != "QueryRetrieveLevel"}
    for field in _PN_FIELDS:
        if field in values:
            values[field] = PersonName.from_value(values[field])
    return values


def _query(
    level: str,
    keys: Mapping[str, str | None],
    *,
    fuzzy: bool,
    limit: int | None,
    offset: int,
    options: Mapping[str, Any] | None = None,
) -> ArchiveQuery:
    model = "PATIENT_ROOT" if level == "PATIENT" else "STUDY_ROOT"
    return ArchiveQuery(
        level=level,  # type: ignore[arg-type]
        information_model=model,  # type: ignore[arg-type]
        keys={k: v or "" for k, v in keys.items()},
        fuzzy=fuzzy,
        limit=limit,
        offset=offset,
        **(options or {}),
    )


def fetch_page(
    services: Services,
    request: Request,
    *,
    level: str,
    keys: Mapping[str, str | None],
    limit: int,
    offset: int,
    fuzzy: bool = False,
    options: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of answers, and the URL of the next page (``None`` on the last).

    ``options`` are further :class:`~raddx.archive.query.Query` arguments (``order_by``,
    ``report_status``, ``report_status_returned``).

    Raises
    ------
    InvalidInput
        A malformed filter value (the query engine's reason).
    """
    query = _query(level, keys, fuzzy=fuzzy, limit=limit + 1, offset=offset, options=options)
    answers = list(QueryService(services.session_factory).find(query))
    # A listing is a query of patient data (PS3.15 A.5.3.10), as C-FIND and QIDO-RS are.
    web_audit.query(
        request,
        PatientRootQueryRetrieveInformationModelFind
        if level == "PATIENT"
        else StudyRootQueryRetrieveInformationModelFind,
    )
    next_url = None
    if len(answers) > limit:
        answers = answers[:limit]
        next_url = str(request.url.include_query_params(offset=offset + limit, limit=limit))
    return [public_values(a) for a in answers], next_url


def count_matches(
    services: Services,
    *,
    level: str,
    keys: Mapping[str, str | None],
    cap: int,
    fuzzy: bool = False,
    options: Mapping[str, Any] | None = None,
) -> int:
    """How many entities match, counted up to ``cap + 1`` (more than ``cap`` is reported as
    ``cap + 1``: see :func:`raddx.archive.query.count`). Paging and sort options are ignored."""
    paging = {k: v for k, v in (options or {}).items() if k != "order_by"}
    query = _query(level, keys, fuzzy=fuzzy, limit=None, offset=0, options=paging)
    return QueryService(services.session_factory).count(query, cap=cap)


def fetch_one(
    services: Services,
    *,
    level: str,
    keys: Mapping[str, str | None],
    what: str,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The one entity ``keys`` names (its Unique Key's value in ``keys``).

    Raises
    ------
    NotFound
        Nothing visible matches (never stored, soft-deleted, purged).
    """
    query = _query(level, keys, fuzzy=False, limit=1, offset=0, options=options)
    answers = list(QueryService(services.session_factory).find(query))
    if not answers:
        raise NotFound(f"no {what}")
    return public_values(answers[0])
