"""``/api/audit``: search the audit trail (auditor role, permission ``audit.read``).

Filters as ``raddx audit search``; pages with limit/offset. Reading the log is itself
recorded (Audit Log Used, PS3.15 A.5.3.2), with the reader as requestor.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from raddx.security import audit, audit_events
from raddx.security.audit_cli import AUDIT_LOG_URI, record_public
from raddx.security.audit_log import AuditFilter, search
from raddx.web import _audit as web_audit
from raddx.web.api._listing import Limit, Offset
from raddx.web.api._models import Page
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["AuditRecordPublic", "router"]

router = api_router("audit")


class AuditRecordPublic(BaseModel):
    """One audit record: its search fields, its hash-chain link and the PS3.15 A.5 message."""

    seq: int = Field(description="Position in the hash chain (1, 2, … without gaps).")
    event_time: dt.datetime
    event_id: str = Field(description="EventID code (DCM), e.g. 110112 Query.")
    event_action_code: str = Field(description="C, R, U, D or E.")
    event_outcome_indicator: int = Field(description="0 success, 4 minor, 8 serious, 12 major.")
    user_id: str | None = Field(description="UserID of the requesting participant.")
    patient_id: str | None
    source_id: str = Field(description="AuditSourceID of the raddx that recorded it.")
    hash: str = Field(description="SHA-256 chain hash of this record.")
    xml: str | None = Field(description="The DICOM audit message (unless include_xml=false).")


def _search(services: ServicesDep, criteria: AuditFilter, include_xml: bool) -> list[dict]:  # type: ignore[type-arg]
    with services.session_factory() as session:
        rows = [record_public(row) for row in search(session, criteria)]
    if not include_xml:
        for row in rows:
            row["xml"] = None
    return rows


@endpoint(router, "GET", "/audit", action="audit.read", response_model=Page[AuditRecordPublic])
async def search_audit(
    services: ServicesDep,
    request: Request,
    limit: Limit = 100,
    offset: Offset = 0,
    patient: Annotated[str | None, Query(max_length=64, description="PatientID.")] = None,
    user: Annotated[str | None, Query(max_length=256, description="Requestor UserID.")] = None,
    event: Annotated[
        str | None, Query(pattern=r"^\d{1,16}$", description="EventID code, e.g. 110104.")
    ] = None,
    since: Annotated[dt.datetime | None, Query(description="From (ISO 8601).")] = None,
    until: Annotated[dt.datetime | None, Query(description="Before (ISO 8601).")] = None,
    include_xml: Annotated[bool, Query(description="Include each message's XML.")] = True,
) -> Page[AuditRecordPublic]:
    """Audit records matching every filter given, oldest first."""
    criteria = AuditFilter(
        patient_id=patient,
        user_id=user,
        event_id=event,
        since=since,
        until=until,
        limit=limit + 1,
        offset=offset,
    )
    rows = await run_in_threadpool(_search, services, criteria, include_xml)
    audit.record(
        audit_events.audit_log_used(reader=web_audit.requester(request), log_uri=AUDIT_LOG_URI)
    )
    more = len(rows) > limit
    following = None
    if more:
        following = str(request.url.include_query_params(offset=offset + limit))
    return Page[AuditRecordPublic](
        items=[AuditRecordPublic(**row) for row in rows[:limit]],
        limit=limit,
        offset=offset,
        next=following,
    )
